import os
import platform
import subprocess
import sys
import sysconfig
import uuid
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

PROBE = "import platform, uuid; print(platform.system(), uuid.uuid4().version, platform.__file__)"


def test_stdlib_platform_wins_over_the_platform_source_root():
    assert platform.system()
    assert uuid.uuid4().version == 4
    assert Path(platform.__file__).parent == Path(sysconfig.get_paths()["stdlib"])


@pytest.mark.slow
def test_platform_works_in_manage_py():
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", PROBE],
        cwd=REPO_ROOT,
        env={**os.environ, "SHOUYIN_ENV": "test"},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    system, version, path = result.stdout.strip().splitlines()[-1].split()
    assert system == platform.system()
    assert version == "4"
    assert not path.startswith(str(REPO_ROOT / "platform"))


@pytest.mark.slow
def test_both_source_roots_import_from_the_repo_root_without_pythonpath():
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, "-c", "import config.env, terminals, payments, tenancy; " + PROBE],
        cwd="/",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.split()[0] == platform.system()

import os
import subprocess
import sys

import pytest

from config.preflight import redact_url
from tests.conftest import REPO_ROOT, free_port


def test_redact_url_hides_only_the_password():
    assert redact_url("postgresql://shop:s3cret@db.example:5432/shouyin") == (
        "postgresql://shop:***@db.example:5432/shouyin"
    )
    assert redact_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def _run_platform(**overrides: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "run", "--no-demo"],
        cwd=REPO_ROOT,
        env={**os.environ, "SHOUYIN_ENV": "development", **overrides},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_unreachable_database_is_one_line_naming_the_url():
    port = free_port()
    result = _run_platform(DATABASE_URL=f"postgresql://shop:s3cret@127.0.0.1:{port}/shouyin")

    assert result.returncode != 0
    assert (
        f"cannot reach PostgreSQL at postgresql://shop:***@127.0.0.1:{port}/shouyin"
        in result.stderr
    )
    assert "s3cret" not in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_unreachable_redis_is_one_line_naming_the_url(live_env):
    port = free_port()
    result = _run_platform(
        DATABASE_URL=live_env["DATABASE_URL"], REDIS_URL=f"redis://127.0.0.1:{port}/0"
    )

    assert result.returncode != 0
    assert f"cannot reach Redis at redis://127.0.0.1:{port}/0" in result.stderr
    assert "Traceback" not in result.stderr

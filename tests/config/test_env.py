import os
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import (
    env_bool,
    env_int,
    env_list,
    env_str,
    env_timezone,
    env_url,
    redis_url_with_db,
)
from tests.conftest import REPO_ROOT


@pytest.fixture
def environ(monkeypatch):
    def set_env(**values: str) -> None:
        for key, value in values.items():
            monkeypatch.setenv(key, value)

    return set_env


@pytest.mark.parametrize(
    ("raw", "expected"), [("true", True), ("False", False), ("1", True), ("off", False)]
)
def test_env_bool_accepts_plain_words(environ, raw, expected):
    environ(FLAG=raw)
    assert env_bool("FLAG", default=not expected) is expected


def test_env_bool_rejects_anything_else_and_names_the_variable(environ):
    environ(FLAG="maybe")
    with pytest.raises(ImproperlyConfigured, match="FLAG must be true or false"):
        env_bool("FLAG", default=False)


def test_env_int_rejects_text_and_values_below_minimum(environ):
    environ(POOL="ten")
    with pytest.raises(ImproperlyConfigured, match="POOL must be an integer"):
        env_int("POOL", 1)
    environ(POOL="0")
    with pytest.raises(ImproperlyConfigured, match="POOL must be at least 1"):
        env_int("POOL", 1, minimum=1)


def test_env_list_rejects_empty_items(environ):
    environ(HOSTS="a.example, ,b.example")
    with pytest.raises(ImproperlyConfigured, match="HOSTS is a comma-separated list"):
        env_list("HOSTS", [])
    environ(HOSTS="a.example,b.example")
    assert env_list("HOSTS", []) == ["a.example", "b.example"]


def test_env_url_checks_scheme_and_port(environ):
    environ(DATABASE_URL="mysql://db.example/shop")
    with pytest.raises(ImproperlyConfigured, match="DATABASE_URL must start with postgres://"):
        env_url("DATABASE_URL", ("postgres", "postgresql"))
    environ(DATABASE_URL="postgresql://db.example:port/shop")
    with pytest.raises(ImproperlyConfigured, match="DATABASE_URL is not a valid URL"):
        env_url("DATABASE_URL", ("postgres", "postgresql"))


def test_env_timezone_rejects_unknown_zones(environ):
    environ(TIME_ZONE="Asia/Atlantis")
    with pytest.raises(ImproperlyConfigured, match="TIME_ZONE is not a known time zone"):
        env_timezone("TIME_ZONE", "UTC")


def test_secret_can_come_from_a_file(environ, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("from-a-file\n")
    environ(API_TOKEN_FILE=str(secret))
    assert env_str("API_TOKEN") == "from-a-file"


def test_required_value_missing_names_the_variable(monkeypatch):
    monkeypatch.delenv("SOMETHING_REQUIRED", raising=False)
    with pytest.raises(ImproperlyConfigured, match="SOMETHING_REQUIRED is required"):
        env_str("SOMETHING_REQUIRED")


def test_redis_url_with_db_replaces_the_database_number():
    assert redis_url_with_db("redis://127.0.0.1:6379/0", 3) == "redis://127.0.0.1:6379/3"


def _manage_check(**overrides: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **overrides}
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"DEBUG": "perhaps"}, "DEBUG must be true or false"),
        ({"TIME_ZONE": "Mars/Olympus"}, "TIME_ZONE is not a known time zone"),
        (
            {"SHOUYIN_ENV": "production", "DEBUG": "true"},
            "DEBUG must be false when SHOUYIN_ENV=production",
        ),
        (
            {"SHOUYIN_ENV": "production", "DEBUG": "false", "SECRET_KEY": ""},
            "SECRET_KEY is required when SHOUYIN_ENV=production",
        ),
        (
            {
                "SHOUYIN_ENV": "production",
                "DEBUG": "false",
                "SECRET_KEY": "django-insecure-shouyin-development-key-never-use-in-production",
            },
            "not the development key",
        ),
    ],
)
def test_malformed_settings_stop_startup_with_one_line_naming_the_variable(overrides, message):
    result = _manage_check(**overrides)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr

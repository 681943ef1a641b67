"""Test-run plumbing loaded before Django: test mode, embedded services, and their clean stop.

The embedded PostgreSQL and Redis are started by the settings on first use (see config.embedded);
this plugin remembers whether they were already running, and stops them at the end of the run only
if this run started them, so `make test` next to a running `make run` leaves that one alone.
"""

import os

import pytest

os.environ.setdefault("SHOUYIN_ENV", "test")

_IS_XDIST_WORKER = "PYTEST_XDIST_WORKER" in os.environ


def _services_this_run_starts() -> list[str]:
    # Runs at import, before pytest-django loads the settings (which start what is missing).
    if _IS_XDIST_WORKER:
        return []
    from config import embedded

    missing = []
    if not os.environ.get("DATABASE_URL") and not embedded.postgres_running():
        missing.append("postgres")
    if not os.environ.get("REDIS_URL") and not embedded.redis_running():
        missing.append("redis")
    return missing


_started_here = _services_this_run_starts()


def pytest_sessionstart(session: pytest.Session) -> None:
    import redis
    from django.conf import settings

    from config.preflight import ServiceUnreachable, check_services

    try:
        check_services()
    except ServiceUnreachable as exc:
        pytest.exit(str(exc), returncode=3)
    # Start from an empty Redis database: no stale tasks, presence or channel messages.
    redis.Redis.from_url(settings.REDIS_URL).flushdb()


def pytest_unconfigure(config: pytest.Config) -> None:
    if _IS_XDIST_WORKER or not _started_here:
        return
    from config import embedded

    if "redis" in _started_here:
        embedded.stop_redis()
    if "postgres" in _started_here:
        embedded.stop_postgres()

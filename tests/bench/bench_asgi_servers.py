"""Which ASGI server serves Shouyin best on this machine? Run every candidate in one run.

    .venv/bin/python tests/bench/bench_asgi_servers.py [--seconds 10] [--concurrency 50]

Each server runs the real platform application (one process) against the same PostgreSQL and
Redis; the load generator runs in this process on the other core. It measures keep-alive HTTP on
/healthz and websocket ping-pong on /ws/ping/, and prints every server beside the best one:
these machines are noisy, so read the ratios, not the absolute numbers.
"""

import argparse
import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import django
import httpx

ROOT = Path(__file__).resolve().parents[2]
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from django.conf import settings  # noqa: E402

from tests.bench.loadgen import http_load, websocket_load  # noqa: E402

SERVERS = {
    "uvicorn (httptools + websockets-sansio)": [
        "-m", "uvicorn", "config.asgi:application", "--lifespan", "off", "--no-access-log",
        "--http", "httptools", "--ws", "websockets-sansio", "--ws-per-message-deflate", "false",
        "--host", "127.0.0.1", "--port", "{port}",
    ],
    "uvicorn (h11 + websockets legacy)": [
        "-m", "uvicorn", "config.asgi:application", "--lifespan", "off", "--no-access-log",
        "--http", "h11", "--ws", "websockets", "--ws-per-message-deflate", "false",
        "--host", "127.0.0.1", "--port", "{port}",
    ],
    "daphne": ["-m", "daphne", "-b", "127.0.0.1", "-p", "{port}", "config.asgi:application"],
}  # fmt: skip


def start(args: list[str], port: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": settings.DATABASE_URL,
        "REDIS_URL": settings.REDIS_URL,
        "LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, *(arg.format(port=port) for arg in args)]
    process = subprocess.Popen(
        command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"server did not start: {' '.join(command)}")


def measure(name: str, args: list[str], port: int, seconds: float, concurrency: int) -> dict:
    process = start(args, port)
    try:
        asyncio.run(
            http_load("127.0.0.1", port, "/healthz", concurrency=concurrency, seconds=1)
        )  # warm-up
        http = asyncio.run(
            http_load("127.0.0.1", port, "/healthz", concurrency=concurrency, seconds=seconds)
        )
        origin = f"http://127.0.0.1:{port}"
        ws = asyncio.run(
            websocket_load(
                f"ws://127.0.0.1:{port}/ws/ping/", origin, connections=concurrency, seconds=seconds
            )
        )
    finally:
        process.terminate()
        process.wait(timeout=10)
    return {"server": name, "http": http.summary(), "ws": ws.summary()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--port", type=int, default=18765)
    options = parser.parse_args()

    results = [
        measure(name, args, options.port, options.seconds, options.concurrency)
        for name, args in SERVERS.items()
    ]
    best_http = max(result["http"]["rate_per_s"] for result in results)
    best_ws = max(result["ws"]["rate_per_s"] for result in results)
    print(
        f"\n{options.concurrency} concurrent clients, {options.seconds:.0f} s each, one server process"
    )
    header = f"{'server':<42} {'HTTP req/s':>10} {'p50':>7} {'p99':>7} {'vs best':>8}   {'WS msg/s':>9} {'p50':>7} {'p99':>7} {'vs best':>8}"
    print(header)
    print("-" * len(header))
    for result in results:
        http, ws = result["http"], result["ws"]
        print(
            f"{result['server']:<42} {http['rate_per_s']:>10.0f} {http['p50_ms']:>6.1f}ms {http['p99_ms']:>6.1f}ms "
            f"{http['rate_per_s'] / best_http:>8.2f}   {ws['rate_per_s']:>9.0f} {ws['p50_ms']:>6.1f}ms "
            f"{ws['p99_ms']:>6.1f}ms {ws['rate_per_s'] / best_ws:>8.2f}"
            + (
                f"   errors: http {http['errors']}, ws {ws['errors']}"
                if http["errors"] or ws["errors"]
                else ""
            )
        )


if __name__ == "__main__":
    main()

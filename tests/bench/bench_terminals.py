"""Terminal fleet benchmark: many simulated B1s on one platform node, beside a bare echo server.

    SHOUYIN_VAR_DIR=/tmp/shouyin-bench .venv/bin/python tests/bench/bench_terminals.py \
        --devices 10000 --processes 3 --heartbeat 30 --steady 60

One run, two servers started the same way (uvicorn, one process, `--ws websockets`, no
compression, as in the Procfile): the platform (`config.asgi:application`, devices speak the full
protocol: challenge, auth, welcome, hello, heartbeats) and `tests/bench/echo_asgi.py` (a bare
ASGI websocket echo: the ceiling). For each it reports connect time, heartbeat round trips
(p50/p99) over a steady window, server CPU in that window, server memory per connection, and for
the platform a reconnect storm (every device dropped at once and reconnecting). The load is
split over several processes. Not a test: it prints figures; docs/performance.md records them.
"""

import argparse
import asyncio
import gc
import hashlib
import hmac
import json
import multiprocessing as mp
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "platform")]
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
BENCH_KEY = b"shouyin-bench"
SERIAL_BASE = 80_000_000


def raise_fd_limit() -> int:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def bench_secret(serial: str) -> str:
    return hmac.new(BENCH_KEY, serial.encode(), hashlib.sha256).hexdigest()


# --- load generator (child processes) ------------------------------------------------------------


async def _device(url, serial, platform, state, interval, phase, gate):
    import websockets

    from terminals.credentials import make_proof

    secret = bench_secret(serial)
    while True:
        await gate.acquire()
        try:
            ws = await websockets.connect(
                url,
                compression=None,
                ping_interval=None,
                open_timeout=60,
                close_timeout=1,
                max_size=2**16,
            )
            if platform:
                challenge = json.loads(await ws.recv())
                proof = make_proof(secret=secret, serial=serial, nonce=challenge["nonce"])
                await ws.send(
                    json.dumps(
                        {
                            "type": "auth",
                            "v": 1,
                            "serial": serial,
                            "nonce": challenge["nonce"],
                            "proof": proof,
                        }
                    )
                )
                welcome = json.loads(await ws.recv())
                if welcome["type"] != "welcome":
                    state["refused"] += 1
                    await ws.close()
                    return
                await ws.send(
                    json.dumps(
                        {
                            "type": "hello",
                            "v": 1,
                            "firmware": "1.3.2",
                            "model": "WST01",
                            "link": "usb",
                            "host_os": "windows",
                        }
                    )
                )
        except websockets.ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd else None
            state["refused"] += 1
            state["codes"][code] = state["codes"].get(code, 0) + 1
            if code in (4003, 4004, 4005, 4006, 4007, 4008):
                return
            await asyncio.sleep(random.uniform(0, 1))
            continue
        except (OSError, TimeoutError, websockets.WebSocketException):
            state["errors"] += 1
            await asyncio.sleep(random.uniform(0, 1))
            continue
        finally:
            gate.release()
        state["connected"] += 1
        state["welcomed_at"].append(time.monotonic())
        try:
            await asyncio.sleep(random.uniform(0, interval))
            seq = 0
            while True:
                seq += 1
                started = time.perf_counter()
                await ws.send(json.dumps({"type": "heartbeat", "v": 1, "seq": seq}))
                await ws.recv()
                if phase["measure"]:
                    state["rtts"].append(time.perf_counter() - started)
                await asyncio.sleep(interval)
        except (websockets.ConnectionClosed, OSError):
            state["connected"] -= 1
            await asyncio.sleep(random.uniform(0, phase["storm_jitter"]))
        except asyncio.CancelledError:
            ws.transport.abort()  # the storm: the link drops (RST), no closing handshake
            raise


async def _worker_main(conn, url, serials, platform, interval, handshakes):
    raise_fd_limit()
    state = {"connected": 0, "refused": 0, "errors": 0, "codes": {}, "rtts": [], "welcomed_at": []}
    phase = {"measure": False, "storm_jitter": 1.0}
    # At most `handshakes` connections opening at once per load process: the load generator must
    # not drown itself (or the server's accept queue) in handshakes that then time out and retry.
    gate = asyncio.Semaphore(handshakes)
    tasks = []
    loop = asyncio.get_running_loop()
    conn.send("ready")
    await loop.run_in_executor(None, conn.recv)  # "go"
    for serial in serials:
        tasks.append(
            asyncio.create_task(_device(url, serial, platform, state, interval, phase, gate))
        )
    while True:
        command = await loop.run_in_executor(None, conn.recv)
        if command == "count":
            conn.send((state["connected"], state["refused"], state["errors"], dict(state["codes"])))
        elif command == "measure":
            state["rtts"].clear()
            phase["measure"] = True
            conn.send("ok")
        elif command == "rtts":
            phase["measure"] = False
            conn.send(list(state["rtts"]))
        elif isinstance(command, tuple) and command[0] == "storm":
            # Drop the first `count` devices of this process at once; they all reconnect.
            count = command[1]
            state["welcomed_at"].clear()
            for task in tasks[:count]:
                task.cancel()
            await asyncio.gather(*tasks[:count], return_exceptions=True)
            state["connected"] -= count
            started = time.monotonic()
            tasks[:count] = [
                asyncio.create_task(_device(url, s, platform, state, interval, phase, gate))
                for s in serials[:count]
            ]
            conn.send(started)
        elif command == "welcomed":
            conn.send(list(state["welcomed_at"]))
        elif command == "stop":
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            conn.send("bye")
            return


def worker(conn, url, serials, platform, interval, handshakes):
    import django
    import uvloop

    django.setup()
    # The load generator shares the 2 cores with what it measures: uvloop as the server uses,
    # and the same collector settings as config.asgi (thousands of long-lived connections).
    gc.freeze()
    gc.set_threshold(50_000, 20, 10)
    uvloop.run(_worker_main(conn, url, serials, platform, interval, handshakes))


# --- orchestration -------------------------------------------------------------------------------


def start_server(app: str, port: int, workers: int) -> subprocess.Popen:
    import httpx
    from django.conf import settings

    env = {
        **os.environ,
        "DATABASE_URL": settings.DATABASE_URL,
        "REDIS_URL": settings.REDIS_URL,
        "LOG_LEVEL": "WARNING",
        "DEBUG": "false",  # as in production: no query log, no debug cursor
        "DATABASE_POOL_MAX": "20",
    }
    args = [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--ws",
        "websockets-sansio",
        "--ws-per-message-deflate",
        "false",
        "--lifespan",
        "off",
        "--no-access-log",
        "--log-level",
        "warning",
        "--backlog",
        "4096",
        "--ws-ping-interval",
        "0",
        "--workers",
        str(workers),
    ]
    process = subprocess.Popen(
        args,
        env=env,
        cwd=ROOT,
        preexec_fn=raise_fd_limit,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"{app} did not start")


def provision(count: int) -> list[str]:
    """Active terminals with known secrets, bulk-inserted (bench setup, not a service path)."""
    from django.core.management import call_command

    from terminals import credentials
    from terminals.demo import demo_stores
    from terminals.models import HardwareModel, Terminal

    call_command("migrate", verbosity=0)
    store = demo_stores()[0]
    model, _ = HardwareModel.objects.get_or_create(code="WST01", defaults={"name": "B1s"})
    serials = [f"WST01-{SERIAL_BASE + n:08d}" for n in range(count)]
    existing = set(Terminal.objects.filter(serial__in=serials).values_list("serial", flat=True))
    Terminal.objects.bulk_create(
        [
            Terminal(
                serial=s,
                bluetooth_name=Terminal.bluetooth_name_for(s),
                hardware_model=model,
                state="active",
                enterprise_id=store.enterprise_id,
                merchant_id=store.merchant_id,
                store_id=store.pk,
                stored_key=credentials.stored_key_for(bench_secret(s)),
            )
            for s in serials
            if s not in existing
        ],
        batch_size=2000,
    )
    return serials


def rss_and_cpu(pid: int) -> tuple[int, float]:
    """RSS and CPU seconds of the server: its process and, with --workers, every worker."""
    import psutil

    root = psutil.Process(pid)
    rss = cpu = 0.0
    for process in [root, *root.children(recursive=True)]:
        times = process.cpu_times()
        rss += process.memory_info().rss
        cpu += times.user + times.system
    return int(rss), cpu


def machine_cpu(server_pid: int, load_procs) -> dict[str, float]:
    """CPU seconds so far of the server (all workers), the load processes, and the machine."""
    import psutil

    load = sum(sum(psutil.Process(p.pid).cpu_times()[:2]) for p in load_procs)
    machine = psutil.cpu_times()
    return {
        "server": rss_and_cpu(server_pid)[1],
        "load": load,
        "machine": machine.user + machine.system + machine.nice + machine.softirq,
    }


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))] if ordered else float("nan")


def run(label, app, url_path, platform, serials, args, port):
    server = start_server(app, port, args.server_workers)
    time.sleep(1)  # workers finish importing before the idle RSS is read
    url = f"ws://127.0.0.1:{port}{url_path}"
    try:
        rss_idle, _ = rss_and_cpu(server.pid)
        chunks = [serials[i :: args.processes] for i in range(args.processes)]
        pipes, procs = [], []
        started = time.monotonic()
        for chunk in chunks:
            parent, child = mp.Pipe()
            proc = mp.get_context("spawn").Process(
                target=worker, args=(child, url, chunk, platform, args.heartbeat, args.handshakes)
            )
            proc.start()
            pipes.append(parent)
            procs.append(proc)
        for pipe in pipes:
            pipe.recv()  # each load process is set up (imports done) before the clock starts
        started = time.monotonic()
        for pipe in pipes:
            pipe.send("go")

        def ask(command):
            for pipe in pipes:
                pipe.send(command)
            return [pipe.recv() for pipe in pipes]

        while True:
            counts = ask("count")
            if sum(c[0] for c in counts) + sum(c[1] for c in counts) >= len(serials):
                break
            if time.monotonic() - started > args.connect_timeout:
                print(f"  {label}: only {sum(c[0] for c in counts)} connected", flush=True)
                break
            time.sleep(0.5)
        connect_s = time.monotonic() - started
        connected = sum(c[0] for c in counts)
        refused = sum(c[1] for c in counts)
        time.sleep(3)  # let the first heartbeats and presence writes settle
        rss_loaded, cpu_before = rss_and_cpu(server.pid)
        ask("measure")
        time.sleep(args.steady)
        rtts = [r for chunk in ask("rtts") for r in chunk]
        _, cpu_after = rss_and_cpu(server.pid)
        result = {
            "label": label,
            "connections": connected,
            "refused_at_connect": refused,
            "connect_s": round(connect_s, 1),
            "heartbeats": len(rtts),
            "p50_ms": round(percentile(rtts, 50) * 1000, 2),
            "p99_ms": round(percentile(rtts, 99) * 1000, 2),
            "server_cpu_pct": round(100 * (cpu_after - cpu_before) / args.steady, 1),
            "rss_per_conn_kb": round((rss_loaded - rss_idle) / max(connected, 1) / 1024, 1),
        }
        if platform and args.storm:
            per_process = -(-min(args.storm_devices or connected, connected) // args.processes)
            cpu_start = machine_cpu(server.pid, procs)
            storm_start = min(ask(("storm", per_process)))
            deadline = storm_start + args.connect_timeout
            while time.monotonic() < deadline:
                counts = ask("count")
                if sum(c[0] for c in counts) >= connected:
                    break
                time.sleep(0.2)
            welcomed = [t for chunk in ask("welcomed") for t in chunk]
            counts = ask("count")
            result["storm_devices"] = len(welcomed)
            result["storm_s"] = round(max(welcomed) - storm_start, 1) if welcomed else None
            result["storm_refused"] = sum(c[1] for c in counts) - refused
            result["storm_codes"] = {k: v for c in counts for k, v in c[3].items()}
            spent = machine_cpu(server.pid, procs)
            # Where the machine's CPU went during the storm (seconds): who the bottleneck is.
            result["storm_cpu_s"] = {
                part: round(spent[part] - cpu_start[part], 1) for part in spent
            }
        ask("stop")
        for proc in procs:
            proc.join(timeout=30)
        return result
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument("--processes", type=int, default=3)
    parser.add_argument("--heartbeat", type=float, default=30)
    parser.add_argument("--steady", type=float, default=60)
    parser.add_argument("--handshakes", type=int, default=50)
    parser.add_argument("--connect-timeout", type=float, default=300)
    parser.add_argument(
        "--server-workers",
        type=int,
        default=1,
        help="uvicorn worker processes (the open-file limit is per process)",
    )
    parser.add_argument(
        "--storm-devices", type=int, default=0, help="devices in the reconnect storm (0: all)"
    )
    parser.add_argument("--no-storm", dest="storm", action="store_false")
    args = parser.parse_args()
    limit = raise_fd_limit()
    import django

    django.setup()
    serials = provision(args.devices)
    print(
        f"{args.devices} devices, {args.processes} load processes, heartbeat {args.heartbeat}s, "
        f"steady window {args.steady}s, open-file limit {limit}",
        flush=True,
    )
    from tests.conftest import free_port

    echo = run(
        "bare ASGI echo", "tests.bench.echo_asgi:app", "/", False, serials, args, free_port()
    )
    print(json.dumps(echo), f"load average {os.getloadavg()}", flush=True)
    platform = run(
        "platform /ws/terminal/",
        "config.asgi:application",
        "/ws/terminal/",
        True,
        serials,
        args,
        free_port(),
    )
    print(json.dumps(platform), f"load average {os.getloadavg()}", flush=True)
    for key in ("p50_ms", "p99_ms", "server_cpu_pct", "rss_per_conn_kb"):
        ratio = platform[key] / echo[key] if echo[key] else float("nan")
        print(f"  {key:<16} platform {platform[key]:>8}  echo {echo[key]:>8}  ratio {ratio:.2f}")


if __name__ == "__main__":
    main()

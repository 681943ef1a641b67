"""Payments benchmarks: end-to-end micropay at N concurrent tills, and follow-up schedule lag.

    SHOUYIN_VAR_DIR=/tmp/shouyin-payments-bench .venv/bin/python tests/bench/bench_payments.py e2e \
        [--seconds 20] [--tills 50]
    SHOUYIN_VAR_DIR=/tmp/shouyin-payments-bench .venv/bin/python tests/bench/bench_payments.py lag \
        [--pending 10000] [--seconds 40] [--mode countdown|poller]
    SHOUYIN_VAR_DIR=/tmp/shouyin-payments-bench .venv/bin/python tests/bench/bench_payments.py sandbox \
        [--seconds 5] [--tills 50] [--apps django,fast]

`e2e`: one platform process and one standalone sandbox process (`manage.py sandbox_provider`) on
the embedded PostgreSQL and Redis; N tills, each on its own online terminal, POST
/api/v1/payments/ with a fresh paying code (paid at once) and an Idempotency-Key, back to back.
The baseline, measured in the same run: the same N-way concurrency calling the sandbox's
micropay directly with the platform's own client (the bare provider round trip).

`lag`: N payments pending in USERPAYING (the sandbox's "never confirms" code), due for
orderquery every 5 s on the reference schedule, followed by a Celery worker; every follow-up
records how late it ran against its due time. `--mode` picks countdown tasks or the SKIP LOCKED
poller (beat every 250 ms). Prints p50 / p99 lag and the follow-ups per second achieved.

`sandbox`: the standalone sandbox alone, served by its Django views (`--django`, the baseline)
and by its fast ASGI app, one after the other: micropay (fresh code, paid at once) and
orderquery (paid and USERPAYING orders), one client thread and then `--tills` threads, with the
platform's own client. Prints calls/s, p50 / p99 and the sandbox process's CPU time per call
(user + system, from psutil): the load generator shares the machine, the CPU per call does not.
"""

import argparse
import asyncio
import json
import os
import random
import secrets
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "platform")]
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

import httpx  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402

from payments.gateway.wechatpay.loop_transport import (  # noqa: E402
    ConnectFailed,
    LoopHttpPool,
    NoAnswer,
)
from tests.bench.loadgen import Sample  # noqa: E402


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(args: list[str], env: dict, health: str | None) -> subprocess.Popen:
    name = "-".join(a for a in args[:5] if a.isalnum() or a == "sandbox_provider")
    log = open(f"/tmp/bench-payments-{name}.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, *args],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while health and time.monotonic() < deadline:
        try:
            if httpx.post(health, timeout=1).status_code < 500:
                return process
        except httpx.HTTPError:
            time.sleep(0.2)
    if health:
        process.kill()
        raise RuntimeError(f"{args} did not start")
    return process


def base_env(**extra: str) -> dict:
    return {**os.environ, "DATABASE_URL": settings.DATABASE_URL, "REDIS_URL": settings.REDIS_URL,
            "LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1",
            "DEBUG": "false",  # as in production: no query log, no debug cursor
            **extra}  # fmt: skip


def fresh_code() -> str:
    return "14" + "".join(secrets.choice("0123456789") for _ in range(16))


# --- World -------------------------------------------------------------------------------------


def bench_world(tills: int):
    """A trial enterprise with a finished merchant, a store, `tills` online terminals, a key."""
    from tenancy.models import Enterprise, Merchant, Store
    from tenancy.principals import Principal
    from tenancy.services.api_keys import api_key_create
    from terminals import presence

    enterprise = Enterprise.objects.create(
        legal_name="Bench Co", display_name=f"Bench {secrets.token_hex(3)}", state="trial",
        trial_starts_on="2026-01-01", trial_ends_on="2099-01-01", terminal_quota=tills + 10,
    )  # fmt: skip
    # sub_mch_id is unique: take the third sandbox sub-merchant over from an earlier run.
    Merchant.objects.filter(sub_mch_id="1900000111").update(
        sub_mch_id=None, onboarding_state="canceled"
    )
    # Encrypted fields get values: an empty one is stored in clear and cannot be read back.
    merchant = Merchant.objects.create(enterprise=enterprise, name="Bench merchant",
                                       onboarding_state="finished", sub_mch_id="1900000111",
                                       settlement_account_number="6222020200112345678",
                                       legal_rep_id_number="110101199003070000")  # fmt: skip
    store = Store.objects.create(enterprise=enterprise, merchant=merchant, name="Bench store",
                                 city="Shanghai")  # fmt: skip

    terminals = bulk_terminals(tills, merchant, store)
    for terminal in terminals:
        presence.client().hset(presence.presence_key(terminal.pk), mapping={
            "connected": "1", "last_seen": str(time.time() + 3600), "interval": "3600"})  # fmt: skip
    _key, raw = api_key_create(actor=Principal.system("bench"), merchant=merchant, name="bench")
    return merchant, terminals, raw


# --- e2e ---------------------------------------------------------------------------------------


async def till_loop(pool, terminal_id, key, stop_at, sample, interval=None) -> None:
    """One till posting payments: back to back, or (with `interval`) on a fixed schedule, its
    latency then counted from the scheduled time so that a slow answer cannot hide the queue
    behind it (no coordinated omission)."""
    due = time.perf_counter() + (random.random() * interval if interval else 0)
    while time.monotonic() < stop_at:
        if interval:
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
        started = due if interval else time.perf_counter()
        body = {"terminal": terminal_id, "amount_fen": 1, "auth_code": fresh_code()}
        headers = {"Content-Type": "application/json", "Authorization": f"Api-Key {key}",
                   "Idempotency-Key": secrets.token_hex(16)}  # fmt: skip
        try:
            response = await pool.post("/api/v1/payments/", json.dumps(body).encode(), headers)
            ok = (
                response.status_code == 201 and json.loads(response.content)["state"] == "succeeded"
            )
            if not ok and sample.errors < 3:
                print("error:", response.status_code, response.content[:400], file=sys.stderr)
        except (ConnectFailed, NoAnswer) as exc:
            ok = False
            if sample.errors < 3:
                print("error:", repr(exc), file=sys.stderr)
        if ok:
            sample.latencies_ms.append((time.perf_counter() - started) * 1000)
        else:
            sample.errors += 1
        if interval:
            due += interval


async def e2e_load(base_url, terminals, key, seconds, rate=None) -> Sample:
    """The tills, over the same lean keep-alive client the platform uses for the provider
    (httpx's AsyncClient would cost the load generator ~0.7 ms of CPU per request). Without
    `rate` each till posts back to back (the saturation throughput); with it, the tills together
    offer `rate` payments a second."""
    sample = Sample()
    pool = LoopHttpPool(base_url, read_timeout=30, max_connections=len(terminals))
    interval = len(terminals) / rate if rate else None
    started = time.monotonic()
    stop_at = started + seconds
    await asyncio.gather(
        *(till_loop(pool, t.pk, key, stop_at, sample, interval) for t in terminals)
    )
    sample.elapsed_s = time.monotonic() - started
    pool.close()
    return sample


class CpuMeter:
    """CPU seconds (user + system) used over a phase by each part of the machine: the platform's
    web processes, the sandbox, PostgreSQL, Redis and this load generator; per payment in ms."""

    def __init__(self, web_pid: int, sandbox_pid: int):
        import psutil

        self.psutil = psutil
        self.groups = {
            "web": lambda: [psutil.Process(web_pid), *psutil.Process(web_pid).children()],
            "sandbox": lambda: [psutil.Process(sandbox_pid)],
            "postgres": lambda: self._named("postgres"),
            "redis": lambda: self._named("redis-server"),
            "load_generator": lambda: [psutil.Process()],
        }

    def _named(self, name: str) -> list:
        return [p for p in self.psutil.process_iter(["name"]) if p.info["name"] == name]

    def read(self) -> dict:
        used = {}
        for group, processes in self.groups.items():
            total = 0.0
            for process in processes():
                try:
                    times = process.cpu_times()
                    total += times.user + times.system
                except self.psutil.NoSuchProcess:
                    pass
            used[group] = total
        machine = self.psutil.cpu_times()
        used["machine"] = sum(machine) - machine.idle - getattr(machine, "iowait", 0)
        return used

    @staticmethod
    def per_payment(before: dict, after: dict, payments: int) -> dict:
        return {group: round(1000 * (after[group] - before[group]) / max(payments, 1), 2)
                for group in before}  # fmt: skip


def sandbox_baseline(sandbox_url: str, tills: int, seconds: float) -> Sample:
    """The bare provider round trip: micropay straight to the sandbox with the platform's client."""
    from payments.gateway.types import MicropayRequest, SubMerchant
    from payments.services.numbers import new_out_trade_no

    client = sandbox_client(sandbox_url)

    def micropay(_n: int) -> None:
        client.micropay(MicropayRequest(
            merchant=SubMerchant("1900000111"), out_trade_no=new_out_trade_no(),
            total_fee=1, body="bench", auth_code=fresh_code(), spbill_create_ip="127.0.0.1",
        ))  # fmt: skip

    return threaded_calls(tills, seconds, micropay)


def threaded_calls(threads: int, seconds: float, call) -> Sample:
    """`threads` threads call `call(n)` back to back for `seconds`."""
    from concurrent.futures import ThreadPoolExecutor
    from itertools import count

    numbers = count()
    sample = Sample()
    stop_at = time.monotonic() + seconds

    def loop() -> None:
        while time.monotonic() < stop_at:
            started = time.perf_counter()
            try:
                call(next(numbers))
                sample.latencies_ms.append((time.perf_counter() - started) * 1000)
            except Exception as exc:
                if sample.errors < 3:
                    print("error:", repr(exc), file=sys.stderr)
                sample.errors += 1

    started = time.monotonic()
    with ThreadPoolExecutor(threads) as pool:
        for _ in range(threads):
            pool.submit(loop)
    sample.elapsed_s = time.monotonic() - started
    return sample


def run_e2e(seconds: float, tills: int, workers: int, rate: float) -> None:
    _merchant, terminals, key = bench_world(tills)
    sandbox_port, web_port = free_port(), free_port()
    sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    sandbox = start(["manage.py", "sandbox_provider", "--addr", f"127.0.0.1:{sandbox_port}"],
                    base_env(), f"{sandbox_url}/pay/orderquery")  # fmt: skip
    web_url = f"http://127.0.0.1:{web_port}"
    web = start(
        ["-m", "uvicorn", "config.asgi:application", "--lifespan", "off", "--no-access-log",
         "--host", "127.0.0.1", "--port", str(web_port), "--workers", str(workers)],
        base_env(WECHATPAY_BASE_URL=sandbox_url), None,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{web_url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    meter = CpuMeter(web.pid, sandbox.pid)
    results = {"tills": tills, "seconds": seconds, "web_workers": workers}
    try:
        results["sandbox_micropay_direct"] = sandbox_baseline(sandbox_url, tills, seconds).summary()
        # Warm up: each key's first use of a minute goes to the view, which records it.
        asyncio.run(e2e_load(web_url, terminals, key, 2))
        for phase, offered in (("saturation", None), (f"offered_{rate:g}_per_s", rate)):
            before = meter.read()
            sample = asyncio.run(e2e_load(web_url, terminals, key, seconds, offered))
            cpu = CpuMeter.per_payment(before, meter.read(), len(sample.latencies_ms))
            results[f"platform_api_{phase}"] = {**sample.summary(), "cpu_ms_per_payment": cpu}
    finally:
        web.terminate()
        sandbox.terminate()
    print(json.dumps(results, indent=2))


# --- lag ---------------------------------------------------------------------------------------


def bulk_terminals(count: int, merchant, store) -> list:
    """`count` active terminals in one store, inserted in bulk (the bench needs rows, not devices)."""
    from terminals.models import Terminal
    from tests.terminals.factories import b1s

    tag = secrets.token_hex(2).upper()
    rows = [
        Terminal(serial=f"WST01-{tag}{n:07d}", bluetooth_name=f"WST01-{n % 10000:04d}",
                 hardware_model=b1s(), state="active", enterprise_id=merchant.enterprise_id,
                 merchant=merchant, store=store)
        for n in range(count)
    ]  # fmt: skip
    return Terminal.objects.bulk_create(rows, batch_size=2000)


def pending_payments(count: int, merchant, store) -> None:
    """`count` payments in USERPAYING at the sandbox and paying here, due over the next 5 s.

    The rows are written first and made due in one statement afterwards, so that no follow-up is
    already late because inserting 10,000 rows took a few seconds.
    """
    from django.db import connection
    from django.utils import timezone

    from payments.models import Payment
    from payments.sandbox.models import SandboxOrder
    from payments.services.numbers import new_out_trade_no

    terminals = bulk_terminals(count, merchant, store)
    now = timezone.now()
    rows, orders = [], []
    for terminal in terminals:
        number = new_out_trade_no()
        rows.append(Payment(
            enterprise_id=merchant.enterprise_id, merchant=merchant, store=store,
            terminal=terminal, kind="micropay", state="paying", amount_fen=1,
            description="bench", out_trade_no=number, sub_mch_id=merchant.sub_mch_id,
            created_by="bench", submitted_at=now,
        ))  # fmt: skip
        orders.append(SandboxOrder(
            mch_id=settings.WECHATPAY_MCH_ID, sub_mch_id=merchant.sub_mch_id,
            appid=settings.WECHATPAY_APPID, out_trade_no=number, trade_type="MICROPAY",
            trade_state="USERPAYING", total_fee=1, body="bench", created_at=now,
        ))  # fmt: skip
    created = Payment.objects.bulk_create(rows, batch_size=2000)
    SandboxOrder.objects.bulk_create(orders, batch_size=2000)
    # Submitted over the last 5 s, so the first queries (at +5 s) come at a steady count/5 a second.
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE payments_payment AS p
            SET follow_up = 'query', submitted_at = s.at, deadline_at = s.at + interval '45 s',
                next_check_at = s.at + interval '5 s'
            FROM (SELECT id, clock_timestamp() - interval '5 s'
                         + (row_number() OVER (ORDER BY id) - 1) * (interval '5 s' / %s) AS at
                  FROM payments_payment WHERE id = ANY(%s)) AS s
            WHERE p.id = s.id
            """,
            [count, [payment.pk for payment in created]],
        )


def wait_for_worker(prefix: str) -> None:
    """Wait for the worker's heartbeat: on a loaded machine it may take a while to start."""
    from config.health import live_workers

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if any(name.startswith(prefix) for name in live_workers()):
            return
        time.sleep(0.5)
    raise RuntimeError("the bench worker did not start")


def wait_for_beat(schedule: Path) -> None:
    """Wait until beat runs its schedule (it writes its schedule file then): rows due before the
    dispatcher starts would count its start-up as lag."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if any(schedule.parent.glob(schedule.name + "*")):
            time.sleep(1)  # its first ticks
            return
        time.sleep(0.2)
    raise RuntimeError("beat did not start")


def send_countdowns() -> None:
    """What schedule_on_commit does for each row: one task per follow-up, for its due time."""
    from django.utils import timezone

    from payments import tasks
    from payments.models import Payment

    now = timezone.now()
    for pk, due in Payment.objects.filter(follow_up="query", created_by="bench").values_list(
        "pk", "next_check_at"
    ):
        tasks.payment_follow_up.apply_async(
            (pk,), countdown=max(0.0, (due - now).total_seconds()), queue="bench-payments"
        )


def run_lag(count: int, seconds: float, mode: str) -> None:
    from payments.services.follow_ups import LAG_KEY
    from terminals.presence import client

    merchant, terminals, _key = bench_world(1)
    store = terminals[0].store
    sandbox_port = free_port()
    sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    from payments.models import Payment

    # Leftovers of an earlier run would be overdue by minutes: retire them and their tasks.
    Payment.objects.filter(created_by="bench").exclude(follow_up="").update(
        follow_up="", next_check_at=None, state="failed"
    )
    client().delete(LAG_KEY, "bench-payments", "celery")
    env = base_env(WECHATPAY_BASE_URL=sandbox_url, PAYMENTS_FOLLOW_UP_MODE=mode,
                   PAYMENTS_RECORD_LAG="true", PAYMENTS_DISPATCH_MS="250",
                   PAYMENTS_TASK_QUEUE="bench-payments", DATABASE_POOL_MAX="20", LOG_LEVEL="INFO")  # fmt: skip
    sandbox = start(["manage.py", "sandbox_provider", "--addr", f"127.0.0.1:{sandbox_port}"],
                    env, f"{sandbox_url}/pay/orderquery")  # fmt: skip
    worker = start(["-m", "celery", "-A", "config", "worker", "--pool", "threads",
                    "--concurrency", "16", "-Q", "bench-payments,celery", "--loglevel", "WARNING",
                    "--without-gossip", "--without-mingle", "--hostname", "bench-payments@%h"],
                   env, None)  # fmt: skip
    processes = [worker, sandbox]
    if mode == "poller":
        processes.append(start(["-m", "celery", "-A", "config", "beat", "--loglevel", "WARNING",
                                "-s", f"/tmp/bench-beat-{os.getpid()}"], env, None))  # fmt: skip
    try:
        wait_for_worker("bench-payments@")
        if mode == "poller":
            wait_for_beat(Path(f"/tmp/bench-beat-{os.getpid()}"))
        pending_payments(count, merchant, store)
        if mode == "countdown":
            send_countdowns()
        time.sleep(seconds)
    finally:
        for process in processes:
            process.terminate()
    lags = [json.loads(item)[1] for item in client().lrange(LAG_KEY, 0, -1)]
    # Recorded in the order the follow-ups started: the thirds show whether the lag holds steady
    # or grows with the backlog.
    third = len(lags) // 3
    thirds = [Sample(latencies_ms=lags[i * third : (i + 1) * third]) for i in range(3)]
    print(json.dumps({
        "mode": mode, "pending": count, "seconds": seconds, "needed_per_s": count / 5,
        "follow_ups": Sample(latencies_ms=lags, elapsed_s=seconds).summary(),
        "lag_p99_ms_by_third": [round(part.percentile(99), 1) for part in thirds],
    }, indent=2))  # fmt: skip


# --- sandbox -----------------------------------------------------------------------------------


def sandbox_client(sandbox_url: str):
    from payments.gateway.wechatpay.client import WeChatPayClient
    from payments.gateway.wechatpay.config import config_from_settings

    config = config_from_settings()
    fields = {f: getattr(config, f) for f in config.__dataclass_fields__}
    return WeChatPayClient(type(config)(**{**fields, "base_url": sandbox_url}), recorder=None)


def sandbox_phase(pid: int, threads: int, seconds: float, call) -> dict:
    """`threaded_calls`, with the sandbox's CPU seconds over the phase."""
    import psutil

    sandbox = psutil.Process(pid)
    cpu = sandbox.cpu_times()
    sample = threaded_calls(threads, seconds, call)
    after = sandbox.cpu_times()
    used = (after.user - cpu.user) + (after.system - cpu.system)
    calls = len(sample.latencies_ms) + sample.errors
    return {**sample.summary(), "cpu_ms_per_call": round(1000 * used / calls, 3) if calls else None}


def sandbox_phases(sandbox_url: str, pid: int, seconds: float, tills: int) -> dict:
    from django.utils import timezone

    from payments.gateway.types import MicropayOutcome, MicropayRequest, SubMerchant, TradeState
    from payments.sandbox.models import SandboxOrder
    from payments.services.numbers import new_out_trade_no

    client = sandbox_client(sandbox_url)
    merchant = SubMerchant("1900000111")
    paid: list[str] = []

    def micropay(_n: int) -> None:
        number = new_out_trade_no()
        result = client.micropay(MicropayRequest(
            merchant=merchant, out_trade_no=number, total_fee=1, body="bench",
            auth_code=fresh_code(), spbill_create_ip="127.0.0.1",
        ))  # fmt: skip
        if result.outcome != MicropayOutcome.PAID:
            raise RuntimeError(f"micropay answered {result.outcome}")
        paid.append(number)

    # As many USERPAYING orders (never confirmed) as paid ones, queried in turn.
    userpaying = [new_out_trade_no() for _ in range(2000)]
    SandboxOrder.objects.bulk_create([SandboxOrder(
        mch_id=settings.WECHATPAY_MCH_ID, sub_mch_id=merchant.sub_mch_id,
        appid=settings.WECHATPAY_APPID, out_trade_no=number, trade_type="MICROPAY",
        trade_state="USERPAYING", total_fee=1, body="bench", created_at=timezone.now(),
    ) for number in userpaying], batch_size=2000)  # fmt: skip

    def orderquery(n: int) -> None:
        if n % 2:
            number, expected = userpaying[n // 2 % len(userpaying)], TradeState.USERPAYING
        else:
            number, expected = paid[n // 2 % len(paid)], TradeState.SUCCESS
        state = client.order_query(merchant=merchant, out_trade_no=number)
        if state.trade_state != expected:
            raise RuntimeError(f"orderquery answered {state.trade_state}, expected {expected}")

    for n in range(20):  # warm up: connections, first-use imports, prepared statements
        micropay(n)
        orderquery(n)
    try:
        return {
            "micropay_1": sandbox_phase(pid, 1, seconds, micropay),
            f"micropay_{tills}": sandbox_phase(pid, tills, seconds, micropay),
            "orderquery_1": sandbox_phase(pid, 1, seconds, orderquery),
            f"orderquery_{tills}": sandbox_phase(pid, tills, seconds, orderquery),
        }
    finally:
        client.close()


def run_sandbox(seconds: float, tills: int, apps: list[str]) -> None:
    """Each sandbox app in turn, alone on the machine with the load generator."""
    results = {}
    for app in apps:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        flags = ["--django"] if app == "django" else []
        process = start(["manage.py", "sandbox_provider", "--addr", f"127.0.0.1:{port}", *flags],
                        base_env(), f"{url}/pay/orderquery")  # fmt: skip
        try:
            results[app] = sandbox_phases(url, process.pid, seconds, tills)
        finally:
            process.terminate()
            process.wait()
    print(json.dumps({"seconds": seconds, "threads": tills, **results}, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("which", choices=["e2e", "lag", "sandbox"])
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--tills", type=int, default=50)
    parser.add_argument("--pending", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=1, help="platform uvicorn processes")
    parser.add_argument("--rate", type=float, default=300, help="e2e: payments/s offered")
    parser.add_argument("--mode", choices=["countdown", "poller"], default="poller")
    parser.add_argument("--apps", default="django,fast", help="sandbox: which apps, in order")
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    if args.which == "e2e":
        run_e2e(args.seconds, args.tills, args.workers, args.rate)
    elif args.which == "sandbox":
        run_sandbox(args.seconds, args.tills, args.apps.split(","))
    else:
        run_lag(args.pending, args.seconds, args.mode)


if __name__ == "__main__":
    main()

"""Fixtures for the payment flows: a real ASGI server with the sandbox, ready tenants, API keys."""

import os
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
from rest_framework.test import APIClient

from payments.models import Payment
from tenancy.principals import Principal
from tenancy.services.api_keys import api_key_create
from tests.conftest import ManagedProcess, free_port, wait_until
from tests.payments.helpers import online_terminal, ready_merchant, sandbox

# The sandbox answers at once in these runs: "later" is reached by making a follow-up due, never
# by waiting (tests/payments/helpers.make_due).
SANDBOX_ENV = {
    "SANDBOX_WECHATPAY_USERPAYING_MS": "0",
    "SANDBOX_WECHATPAY_REFUND_MS": "0",
    "SANDBOX_WECHATPAY_NO_ANSWER_MS": "1500",
}


def start_server(env: dict[str, str], port: int) -> ManagedProcess:
    """tests.conftest.start_asgi_server with a longer start-up allowance: on a loaded 2-core
    machine importing the platform alone can take half a minute."""
    args = [
        sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1",
        "--port", str(port), "--lifespan", "off", "--ws", "websockets-sansio", "--no-access-log",
    ]  # fmt: skip
    server = ManagedProcess(args, env, f"asgi-{port}.log")

    def healthy() -> bool:
        if not server.alive():
            raise RuntimeError(f"ASGI server exited:\n{server.output()}")
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(healthy, timeout=120, what="the ASGI server to answer /healthz")
    except TimeoutError:
        server.stop()
        raise
    return server


@pytest.fixture(scope="session")
def payments_env(live_env) -> dict[str, str]:
    """Environment of the payments processes: the gateway points at their own server's sandbox,
    and follow-up tasks go to a queue only this session's payments worker consumes."""
    base_url = f"http://127.0.0.1:{free_port()}"
    return {
        **live_env,
        **SANDBOX_ENV,
        "BASE_URL": base_url,
        "WECHATPAY_BASE_URL": f"{base_url}/sandbox/wechatpay",
        "PAYMENTS_NOTIFY_URL": f"{base_url}/payments/wechatpay/notify",
        "PAYMENTS_TASK_QUEUE": f"payments-{os.getpid()}",
    }


@pytest.fixture(scope="session")
def payments_server(payments_env) -> Iterator[str]:
    """A uvicorn process serving the platform and the sandbox provider; yields its base URL."""
    base_url = payments_env["BASE_URL"]
    server = start_server(payments_env, int(base_url.rsplit(":", 1)[1]))
    yield base_url
    server.stop()


@pytest.fixture(scope="session")
def second_node(payments_env) -> Iterator[str]:
    """Another ASGI process on the same database and Redis (the multi-node shape)."""
    port = free_port()
    server = start_server(payments_env, port)
    yield f"http://127.0.0.1:{port}"
    server.stop()


def _private_redis(env: dict[str, str]) -> tuple[dict[str, str], str]:
    """Give the worker and its beat a Redis database of their own: the beat schedules every
    platform task, and nothing but the payments dispatcher should run against the tests' rows.
    (Test settings derive the Redis database from PYTEST_XDIST_WORKER.)"""
    import redis

    from config.env import redis_url_with_db, test_redis_db

    index = test_redis_db() - 1
    private = {**env, "PYTEST_XDIST_WORKER": f"gw{13 + index % 2}"}
    url = redis_url_with_db(env["REDIS_URL"], 14 + index % 2)
    redis.Redis.from_url(url).flushdb()
    return private, url


@pytest.fixture(scope="session")
def payments_worker(payments_env) -> Iterator[ManagedProcess]:
    """A real Celery worker (with beat) consuming this session's payments queue."""
    import redis

    from config.health import WORKERS_KEY

    name = f"payments-{os.getpid()}"
    args = [
        sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo",
        "--loglevel", "INFO", "--without-gossip", "--without-mingle", "--hostname", f"{name}@%h",
        "-Q", payments_env["PAYMENTS_TASK_QUEUE"],
        # Its own beat: the dispatcher claims due follow-ups every 250 ms (the default mode).
        "--beat", "--schedule", f"/tmp/payments-beat-{os.getpid()}",
    ]  # fmt: skip
    env, redis_url = _private_redis(payments_env)
    worker = ManagedProcess(args, env, f"celery-{name}.log")
    heartbeats = redis.Redis.from_url(redis_url)

    def ready() -> bool:
        if not worker.alive():
            raise RuntimeError(f"Celery worker exited:\n{worker.output()}")
        alive = heartbeats.zrangebyscore(WORKERS_KEY, time.time() - 30, "+inf")
        return any(worker_name.decode().startswith(f"{name}@") for worker_name in alive)

    wait_until(ready, timeout=120, what="the payments worker's heartbeat")
    yield worker
    worker.stop()


@pytest.fixture
def shop(world, payments_server, settings):
    """Tenants A and B can take payments, each with an online terminal; the gateway → sandbox."""
    settings.WECHATPAY_READ_TIMEOUT_MS = 700  # below the sandbox's no-answer hold
    ready_merchant(world.a, "a")
    ready_merchant(world.b, "b")
    world.a.terminal = online_terminal(world.a)
    world.b.terminal = online_terminal(world.b)
    with sandbox(payments_server):
        yield world


@pytest.fixture
def merchant_api(shop) -> APIClient:
    """Tenant A's merchant system, with an API key."""
    _key, raw = api_key_create(
        actor=Principal.system("tests"), merchant=shop.a.merchant, name="till"
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    return client


@pytest.fixture
def login():
    """An API client signed in as `user` (a session, as the dashboards use)."""

    def make(user) -> APIClient:
        client = APIClient()
        client.force_login(user)
        return client

    return make


@pytest.fixture
def native(shop, merchant_api) -> Payment:
    body = {"terminal": shop.a.terminal.pk, "amount_fen": 2500, "kind": "native"}
    response = merchant_api.post("/api/v1/payments/", body, format="json")
    assert response.status_code == 201, response.json()
    return Payment.objects.get(pk=response.json()["id"])

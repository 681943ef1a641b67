"""Liveness and readiness.

/healthz answers as long as the process serves requests. /readyz checks every dependency a request
may need (PostgreSQL, Redis, the channel layer, at least one live Celery worker) and names the one
that failed, so a load balancer stops sending traffic and an operator knows where to look.
"""

import asyncio
import platform
import time
import uuid
from collections.abc import Callable

import redis
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

WORKERS_KEY = "shouyin:celery:workers"


def _redis_client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)


def record_worker_heartbeat(hostname: str) -> None:
    """Mark a Celery worker alive now; entries older than the TTL are dropped."""
    now = time.time()
    client = _redis_client()
    with client.pipeline() as pipe:
        pipe.zadd(WORKERS_KEY, {hostname: now})
        pipe.zremrangebyscore(WORKERS_KEY, "-inf", now - settings.WORKER_HEARTBEAT_TTL)
        pipe.execute()


def live_workers() -> list[str]:
    cutoff = time.time() - settings.WORKER_HEARTBEAT_TTL
    return [name.decode() for name in _redis_client().zrangebyscore(WORKERS_KEY, cutoff, "+inf")]


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _check_redis() -> None:
    _redis_client().ping()


def _check_channel_layer() -> None:
    layer = get_channel_layer()

    async def round_trip() -> None:
        # A plain channel name, not new_channel(): process-local channels share one receive loop
        # per layer, which a long-running consumer (the terminals node router) may own.
        token = uuid.uuid4().hex
        channel = f"readyz.{token}"
        await layer.send(channel, {"type": "readyz.probe", "token": token})
        message = await asyncio.wait_for(layer.receive(channel), timeout=3)
        if message.get("token") != token:
            raise RuntimeError("channel layer returned a different message")

    async_to_sync(round_trip)()


def _check_celery() -> None:
    if not live_workers():
        raise RuntimeError(
            f"no Celery worker heartbeat in the last {settings.WORKER_HEARTBEAT_TTL}s"
        )


CHECKS: dict[str, Callable[[], None]] = {
    "database": _check_database,
    "redis": _check_redis,
    "channel_layer": _check_channel_layer,
    "celery": _check_celery,
}


def run_checks() -> dict[str, dict]:
    results = {}
    for name, check in CHECKS.items():
        started = time.perf_counter()
        try:
            check()
        except Exception as exc:
            results[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
        else:
            results[name] = {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1)}
    return results


@never_cache
@require_GET
def healthz(request) -> JsonResponse:
    return JsonResponse({"status": "ok", "node": platform.node()})


@never_cache
@require_GET
def readyz(request) -> JsonResponse:
    results = run_checks()
    failed = [name for name, result in results.items() if not result["ok"]]
    body = {"status": "fail" if failed else "ok", "failed": failed, "checks": results}
    return JsonResponse(body, status=503 if failed else 200)

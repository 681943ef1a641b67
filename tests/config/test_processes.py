"""The platform's own processes, for real: an ASGI server and a Celery worker on the test services."""

import json
import os
import platform
import sys

import httpx
import pytest
from websockets.sync.client import connect

from config.request_id import set_request_id
from config.tasks import ping
from tests.conftest import ManagedProcess, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_celery_worker_runs_a_task_through_redis_and_keeps_the_request_id(celery_worker):
    request_id = set_request_id("test-request-0001")

    result = ping.delay("hello").get(timeout=30)

    assert result["payload"] == "hello"
    assert result["system"] == platform.system()
    assert result["request_id"] == request_id


def test_websocket_round_trip_through_a_real_asgi_server(asgi_server):
    ws_url = asgi_server.replace("http://", "ws://") + "/ws/ping/"
    with connect(ws_url, origin=asgi_server, open_timeout=10) as socket:
        socket.send(json.dumps({"type": "ping", "id": 7}))
        reply = json.loads(socket.recv(timeout=10))
    assert reply["type"] == "pong"
    assert reply["id"] == 7


def test_browser_websocket_from_a_foreign_origin_is_refused(asgi_server):
    ws_url = asgi_server.replace("http://", "ws://") + "/ws/ping/"
    with (
        pytest.raises(Exception, match="403"),
        connect(ws_url, origin="http://evil.example", open_timeout=10),
    ):
        pass


def test_asgi_server_answers_healthz_with_its_node_name(asgi_server):
    response = httpx.get(f"{asgi_server}/healthz", timeout=5)
    assert response.json() == {"status": "ok", "node": platform.node()}


def test_readyz_is_green_with_a_live_worker(asgi_server, celery_worker):
    response = httpx.get(f"{asgi_server}/readyz", timeout=10)
    assert response.status_code == 200, response.text
    assert response.json()["failed"] == []


def test_celery_beat_starts_and_imports_the_schedule(live_env, tmp_path):
    beat = ManagedProcess(
        [sys.executable, "-m", "celery", "-A", "config", "beat", "--loglevel", "INFO",
         "--schedule", str(tmp_path / "beat-schedule")],
        live_env,
        f"beat-{os.getpid()}.log",
    )  # fmt: skip
    try:
        wait_until(
            # The banner's configuration lines print once the app and its settings have loaded.
            lambda: ". scheduler ->" in beat.output() or not beat.alive(),
            what="beat to start",
        )
        assert beat.alive(), beat.output()
    finally:
        beat.stop()

import asyncio
import threading

import pytest
from channels.layers import get_channel_layer
from django.test import override_settings

from config import embedded
from config.health import record_worker_heartbeat
from tests.conftest import free_port


def test_healthz_answers_without_touching_services(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


@pytest.fixture
def private_redis(tmp_path):
    """A Redis of this test's own, so stopping it disturbs nobody else."""
    port = free_port()
    process = embedded.start_redis_server(tmp_path / "redis", port)
    url = f"redis://127.0.0.1:{port}/0"
    layers = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [url]}}
    }
    state = {"dir": tmp_path / "redis", "port": port, "process": process}
    with override_settings(REDIS_URL=url, CHANNEL_LAYERS=layers):
        yield state
    # The test may have restarted it: stop whichever process runs now.
    embedded.stop_redis_process(state["process"])


@pytest.mark.django_db
def test_readyz_turns_503_naming_redis_when_redis_stops_and_recovers(client, private_redis):
    record_worker_heartbeat("test-worker@host")
    assert client.get("/readyz").status_code == 200

    embedded.stop_redis_process(private_redis["process"])
    down = client.get("/readyz")

    assert down.status_code == 503
    body = down.json()
    assert "redis" in body["failed"]
    assert body["checks"]["database"]["ok"] is True
    assert "Connection" in body["checks"]["redis"]["error"]

    private_redis["process"] = embedded.start_redis_server(
        private_redis["dir"], private_redis["port"]
    )
    record_worker_heartbeat("test-worker@host")
    assert client.get("/readyz").status_code == 200


@pytest.mark.django_db
def test_readyz_names_celery_when_no_worker_heartbeat(client, private_redis):
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failed"] == ["celery"]


@pytest.mark.django_db
def test_readyz_answers_while_another_loop_receives_on_a_process_local_channel(client):
    """The terminals node router holds the layer's receive loop for process-local channels."""
    layer = get_channel_layer()
    receiving, stop = threading.Event(), threading.Event()

    def hold_the_receive_loop() -> None:
        async def run() -> None:
            channel = await layer.new_channel()
            task = asyncio.create_task(layer.receive(channel))
            await asyncio.sleep(0)
            receiving.set()
            while not stop.is_set():
                await asyncio.sleep(0.01)
            task.cancel()

        asyncio.run(run())

    holder = threading.Thread(target=hold_the_receive_loop)
    holder.start()
    try:
        assert receiving.wait(timeout=10)
        record_worker_heartbeat("test-worker@host")
        response = client.get("/readyz")
    finally:
        stop.set()
        holder.join(timeout=10)

    assert response.json()["checks"]["channel_layer"]["ok"] is True, response.json()

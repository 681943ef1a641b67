import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.test import Client

from config.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)


def _session_cookie(user) -> bytes:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


async def _connect(user=None) -> tuple[WebsocketCommunicator, bool]:
    headers = [(b"origin", b"http://testserver"), (b"host", b"testserver")]
    if user is not None:
        headers.append((b"cookie", await sync_to_async(_session_cookie)(user)))
    communicator = WebsocketCommunicator(application, "/ws/dashboard/", headers=headers)
    connected, _ = await communicator.connect()
    return communicator, connected


async def _test_anonymous_visitor_is_refused():
    communicator, connected = await _connect()
    assert not connected
    await communicator.disconnect()


def test_anonymous_visitor_is_refused():
    async_to_sync(_test_anonymous_visitor_is_refused)()


async def _test_cashier_joins_only_its_store_group(world):
    communicator, connected = await _connect(world.a.cashier)
    assert connected
    welcome = await communicator.receive_json_from()
    assert welcome["data"]["groups"] == [f"store.{world.a.store.pk}"]
    await communicator.disconnect()


def test_cashier_joins_only_its_store_group(world):
    async_to_sync(_test_cashier_joins_only_its_store_group)(world)


async def _test_event_reaches_the_tenant_it_belongs_to_and_not_the_other(world):
    own, _ = await _connect(world.a.admin)
    other, _ = await _connect(world.b.admin)
    await own.receive_json_from()
    await other.receive_json_from()

    await get_channel_layer().group_send(
        f"enterprise.{world.a.enterprise.pk}",
        {"type": "presence.changed", "terminal_id": 7, "presence": "online"},
    )

    event = await own.receive_json_from(timeout=5)
    assert event == {
        "v": 1,
        "type": "presence.changed",
        "data": {"terminal_id": 7, "presence": "online"},
    }
    assert await other.receive_nothing(timeout=0.5)
    await own.disconnect()
    await other.disconnect()


def test_event_reaches_the_tenant_it_belongs_to_and_not_the_other(world):
    async_to_sync(_test_event_reaches_the_tenant_it_belongs_to_and_not_the_other)(world)


async def _test_ops_receive_events_of_every_tenant(world):
    ops, _ = await _connect(world.ops["ops_support"])
    welcome = await ops.receive_json_from()
    assert welcome["data"]["groups"] == ["ops"]

    await get_channel_layer().group_send(
        "ops", {"type": "payment.updated", "payment_id": 1, "state": "succeeded"}
    )

    assert (await ops.receive_json_from(timeout=5))["type"] == "payment.updated"
    await ops.disconnect()


def test_ops_receive_events_of_every_tenant(world):
    async_to_sync(_test_ops_receive_events_of_every_tenant)(world)

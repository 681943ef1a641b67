"""The till's feed checks every event against the till's scope, not only its subscription, and
closes when its API key is revoked, deleted or expires."""

from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.utils import timezone

from config.asgi import application
from tenancy.models import ApiKey
from tenancy.principals import Principal
from tenancy.services.api_keys import api_key_create, api_key_revoke
from tests.terminals.factories import active

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_till_hears_its_merchants_payments_and_not_another_merchants(world):
    terminal, _ = active(world.a)
    key = api_key_create(actor=Principal.system("tests"), merchant=world.a.merchant, name="till")[1]

    async def scenario():
        till = WebsocketCommunicator(
            application,
            "/ws/payments/",
            headers=[
                (b"origin", b"http://testserver"),
                (b"authorization", f"Api-Key {key}".encode()),
            ],
        )
        connected, _ = await till.connect()
        assert connected
        await till.send_json_to({"type": "subscribe", "terminal": terminal.pk, "id": "m1"})
        assert (await till.receive_json_from(timeout=5))["type"] == "subscribed"
        layer = get_channel_layer()
        # The terminal was moved to merchant B's store: B's payment must not reach A's till.
        await layer.group_send(f"terminal.{terminal.pk}", {
            "type": "payment.updated", "payment_id": 2, "merchant_id": world.b.merchant.pk,
            "store_id": world.b.store.pk, "enterprise_id": world.b.enterprise.pk,
        })  # fmt: skip
        await layer.group_send(f"terminal.{terminal.pk}", {
            "type": "payment.updated", "payment_id": 1, "merchant_id": world.a.merchant.pk,
            "store_id": world.a.store.pk, "enterprise_id": world.a.enterprise.pk,
        })  # fmt: skip
        event = await till.receive_json_from(timeout=5)
        assert event["payment_id"] == 1
        assert await till.receive_nothing(timeout=0.3)
        await till.disconnect()

    async_to_sync(scenario)()


def _till(raw_key: str) -> WebsocketCommunicator:
    return WebsocketCommunicator(
        application,
        "/ws/payments/",
        headers=[
            (b"origin", b"http://testserver"),
            (b"authorization", f"Api-Key {raw_key}".encode()),
        ],
    )


async def _subscribed(till, terminal) -> None:
    connected, _ = await till.connect()
    assert connected
    await till.send_json_to({"type": "subscribe", "terminal": terminal.pk, "id": "m1"})
    assert (await till.receive_json_from(timeout=5))["type"] == "subscribed"


def _event(world, payment_id: int) -> dict:
    return {
        "type": "payment.updated", "payment_id": payment_id, "merchant_id": world.a.merchant.pk,
        "store_id": world.a.store.pk, "enterprise_id": world.a.enterprise.pk,
    }  # fmt: skip


def test_revoking_a_key_closes_its_open_till_at_once(world):
    """No re-check is due for a minute: the revocation itself reaches the open connection."""
    terminal, _ = active(world.a)
    key, raw = api_key_create(actor=Principal.system("tests"), merchant=world.a.merchant,
                              name="till")  # fmt: skip
    _other_key, other_raw = api_key_create(actor=Principal.system("tests"),
                                          merchant=world.a.merchant, name="other till")  # fmt: skip
    revoke = database_sync_to_async(api_key_revoke)

    async def scenario():
        till, other = _till(raw), _till(other_raw)
        await _subscribed(till, terminal)
        await _subscribed(other, terminal)
        await revoke(actor=Principal.system("tests"), api_key=key, reason="leaked")
        closed = await till.receive_output(timeout=5)
        assert closed == {"type": "websocket.close", "code": 4401}
        # The other key's till stays open and keeps hearing its terminal.
        await get_channel_layer().group_send(f"terminal.{terminal.pk}", _event(world, 7))
        assert (await other.receive_json_from(timeout=5))["payment_id"] == 7
        await till.disconnect()
        await other.disconnect()

    async_to_sync(scenario)()


def test_a_deleted_key_is_caught_by_the_periodic_recheck(world, settings):
    settings.PAYMENTS_TILL_KEY_RECHECK_SECONDS = 0.3
    terminal, _ = active(world.a)
    key, raw = api_key_create(actor=Principal.system("tests"), merchant=world.a.merchant,
                              name="till")  # fmt: skip

    async def scenario():
        till = _till(raw)
        await _subscribed(till, terminal)
        await database_sync_to_async(ApiKey.objects.filter(pk=key.pk).delete)()
        closed = await till.receive_output(timeout=5)
        assert closed == {"type": "websocket.close", "code": 4401}
        await till.disconnect()

    async_to_sync(scenario)()


def test_a_key_expiring_while_connected_closes_its_till_at_expiry(world):
    terminal, _ = active(world.a)
    expires = timezone.now() + timedelta(seconds=1.5)
    _key, raw = api_key_create(actor=Principal.system("tests"), merchant=world.a.merchant,
                               name="till", expires_at=expires)  # fmt: skip

    async def scenario():
        till = _till(raw)
        await _subscribed(till, terminal)
        closed = await till.receive_output(timeout=5)
        assert closed == {"type": "websocket.close", "code": 4401}
        assert timezone.now() >= expires
        await till.disconnect()

    async_to_sync(scenario)()


def test_a_usable_key_stays_connected_across_rechecks(world, settings):
    settings.PAYMENTS_TILL_KEY_RECHECK_SECONDS = 0.1
    terminal, _ = active(world.a)
    _key, raw = api_key_create(actor=Principal.system("tests"), merchant=world.a.merchant,
                               name="till")  # fmt: skip

    async def scenario():
        till = _till(raw)
        await _subscribed(till, terminal)
        assert await till.receive_nothing(timeout=0.5)  # several re-checks, no close
        await get_channel_layer().group_send(f"terminal.{terminal.pk}", _event(world, 8))
        assert (await till.receive_json_from(timeout=5))["payment_id"] == 8
        await till.disconnect()

    async_to_sync(scenario)()

"""The till's feed checks every event against the till's scope, not only its subscription."""

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator

from config.asgi import application
from tenancy.principals import Principal
from tenancy.services.api_keys import api_key_create
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

"""The whole terminal flow over real websockets, against a real server process and the sandbox.

The till (a merchant system with an API key) creates a micropay without a code; the device gets
`display` on its customer screen, scans the customer's code and sends `scan`; the platform pays
through the sandbox and the result reaches the device (`payment_result`), the till's API and the
till's own websocket. Another tenant's till cannot subscribe to the terminal.
"""

import asyncio
import json
import time

import httpx
import pytest
import websockets

from tenancy.principals import Principal
from tenancy.services.api_keys import api_key_create
from terminals import presence
from terminals.simulator import DeviceProfile, SimDevice
from tests.payments import helpers as codes
from tests.payments.helpers import ready_merchant
from tests.terminals.factories import active

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


class PayingDevice(SimDevice):
    """The simulator's device, scanning `code` at a payment prompt; it keeps the results shown."""

    def __init__(self, *args, code: str, **kwargs):
        super().__init__(*args, scan_code=code, scan_delay=0.05, **kwargs)
        self.results: asyncio.Queue = asyncio.Queue()

    async def on_command(self, frame: dict) -> None:
        await super().on_command(frame)
        if frame["type"] == "payment_result":
            await self.results.put(frame["payload"])


def _online(terminal_id: int) -> bool:
    return presence.judge(presence.read(terminal_id), now=time.time()).presence == "online"


async def _wait_online(terminal_id: int) -> None:
    # The device's node writes presence in batches; wait for that write, not a fixed time.
    for _ in range(200):
        if await asyncio.to_thread(_online, terminal_id):
            return
        await asyncio.sleep(0.05)
    raise TimeoutError("the device never showed up online")


def _key(merchant) -> str:
    return api_key_create(actor=Principal.system("tests"), merchant=merchant, name="till")[1]


async def _subscribe(base_url: str, raw_key: str, terminal_id: int):
    ws = await websockets.connect(
        base_url.replace("http", "ws") + "/ws/payments/",
        additional_headers={"Authorization": f"Api-Key {raw_key}", "Origin": base_url},
    )
    await ws.send(json.dumps({"type": "subscribe", "terminal": terminal_id, "id": "s1"}))
    return ws, json.loads(await ws.recv())


async def _next_update(ws, state: str) -> dict:
    seen = []
    while True:
        try:
            message = json.loads(await asyncio.wait_for(ws.recv(), timeout=15))
        except TimeoutError:
            raise AssertionError(f"no {state} update; saw {seen}") from None
        seen.append(message)
        if message.get("type") == "payment.updated" and message["state"] == state:
            return message


@pytest.mark.parametrize(("code", "status", "state"), [
    (codes.PAID, "succeeded", "succeeded"),
    (codes.NOTENOUGH, "failed", "failed"),
])  # fmt: skip
def test_a_scan_on_the_terminal_pays_and_everyone_hears_the_result(
    world, payments_server, second_node, code, status, state
):
    """The device is on one node, the till's websocket on another."""
    _scan_flow(world, payments_server, second_node, code, status, state)


def test_a_till_on_the_devices_own_node_hears_the_result(world, payments_server):
    """The node router's receive loop must not starve the till's consumer in the same process."""
    _scan_flow(world, payments_server, payments_server, codes.PAID, "succeeded", "succeeded")


def _scan_flow(world, payments_server, till_node, code, status, state):
    ready_merchant(world.a, "a")
    ready_merchant(world.b, "b")
    terminal, secret = active(world.a)
    till_key, outsider_key = _key(world.a.merchant), _key(world.b.merchant)
    ws_url = payments_server.replace("http", "ws") + "/ws/terminal/"

    async def scenario():
        device = PayingDevice(ws_url, DeviceProfile(terminal.serial, secret), code=code)
        await device.connect()
        stop = asyncio.Event()
        serving = asyncio.create_task(device.serve(stop))
        try:
            await _wait_online(terminal.pk)
            till_ws, subscribed = await _subscribe(till_node, till_key, terminal.pk)
            assert subscribed["type"] == "subscribed"
            other_ws, refused = await _subscribe(till_node, outsider_key, terminal.pk)
            assert refused["code"] == "not_found"
            await other_ws.close()
            async with httpx.AsyncClient(base_url=payments_server, timeout=20) as till:
                headers = {"Authorization": f"Api-Key {till_key}"}
                created = await till.post("/api/v1/payments/", headers=headers,
                                          json={"terminal": terminal.pk, "amount_fen": 888})  # fmt: skip
                assert created.status_code == 201, created.text
                assert created.json()["state"] == "awaiting_scan"
                result = await asyncio.wait_for(device.results.get(), timeout=15)
                update = await _next_update(till_ws, state)
                payment = (await till.get(f"/api/v1/payments/{created.json()['id']}/",
                                          headers=headers)).json()  # fmt: skip
            await till_ws.close()
            return result, update, payment
        finally:
            stop.set()
            await device.close()
            serving.cancel()

    result, update, payment = asyncio.run(scenario())
    assert result["status"] == status and result["amount_fen"] == 888
    assert update["payment_id"] == payment["id"] and update["amount_fen"] == 888
    assert payment["state"] == state and payment["scan_source"] == "terminal"
    assert payment["auth_code_masked"].endswith(code[-4:]) and code not in json.dumps(payment)


def test_an_offline_terminal_answers_409_with_a_clear_message(world, payments_server):
    ready_merchant(world.a, "a")
    terminal, _secret = active(world.a)
    response = httpx.post(f"{payments_server}/api/v1/payments/",
                          headers={"Authorization": f"Api-Key {_key(world.a.merchant)}"},
                          json={"terminal": terminal.pk, "amount_fen": 100})  # fmt: skip
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "terminal_unavailable"
    assert "offline" in response.json()["error"]["message"]

"""The device websocket through Channels' WebsocketCommunicator, on the real routing and Redis."""

import json
import threading

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connections

from config.asgi import application
from tenancy.principals import Principal
from terminals import credentials, presence, protocol
from terminals.models import CommandState, TerminalCommand
from terminals.protocol import CloseCode
from terminals.router import get_router
from terminals.services import commands, fleet
from tests.terminals.factories import SYSTEM, active, assigned, in_stock

pytestmark = pytest.mark.django_db(transaction=True)


class Device:
    """A device on a WebsocketCommunicator: auth, frames, and the close it receives."""

    def __init__(self, serial: str, secret: str):
        self.serial, self.secret = serial, secret
        self.comm = WebsocketCommunicator(application, "/ws/terminal/")

    async def open(self) -> dict:
        connected, _ = await self.comm.connect()
        assert connected
        self.challenge = await self.comm.receive_json_from()
        assert self.challenge["type"] == "challenge"
        return self.challenge

    def auth_frame(self, nonce: str | None = None) -> dict:
        nonce = nonce or self.challenge["nonce"]
        proof = credentials.make_proof(secret=self.secret, serial=self.serial, nonce=nonce)
        return {"type": "auth", "v": 1, "serial": self.serial, "nonce": nonce, "proof": proof}

    async def login(self) -> dict:
        await self.open()
        await self.send(self.auth_frame())
        welcome = await self.comm.receive_json_from()
        assert welcome["type"] == "welcome", welcome
        return welcome

    async def send(self, frame) -> None:
        await self.comm.send_to(text_data=frame if isinstance(frame, str) else json.dumps(frame))

    async def recv(self, timeout: float = 3) -> dict:
        return await self.comm.receive_json_from(timeout=timeout)

    async def closed_with(self) -> int:
        """Read frames until the close; return its code."""
        while True:
            message = await self.comm.receive_output(timeout=3)
            if message["type"] == "websocket.close":
                return message["code"]

    async def hello(self, firmware: str = "1.3.2") -> None:
        await self.send(
            {
                "type": "hello",
                "v": 1,
                "firmware": firmware,
                "model": "WST01",
                "link": "otg",
                "host_os": "android",
            }
        )

    async def bye(self) -> None:
        await self.comm.disconnect()


def run(scenario):
    """Run an async scenario on a thread of its own.

    A session fixture elsewhere (Playwright's sync API) may leave an event loop running in the
    main thread, where async_to_sync refuses to run. The scenario's database calls then use that
    thread's connection, which is why these tests are transactional.
    """
    failures = []

    def target():
        try:
            async_to_sync(scenario)()
        except BaseException as exc:
            failures.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if failures:
        raise failures[0]


# --- authentication ----------------------------------------------------------------------------


def test_active_terminal_is_welcomed_and_heartbeats_are_acked(world):
    terminal, secret = active(world.a)

    async def scenario():
        device = Device(terminal.serial, secret)
        welcome = await device.login()
        assert welcome["terminal_id"] == terminal.pk and welcome["heartbeat_interval"] == 30
        await device.hello()
        await device.send({"type": "heartbeat", "v": 1, "seq": 7})
        ack = await device.recv()
        assert ack["type"] == "heartbeat_ack" and ack["seq"] == 7
        await (await get_router()).flush()
        live = presence.read(terminal.pk)
        assert live["connected"] == "1" and live["fw"] == "1.3.2" and live["link"] == "otg"
        await device.bye()

    run(scenario)


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        ("unknown", CloseCode.UNKNOWN_DEVICE),
        ("wrong_secret", CloseCode.BAD_PROOF),
        ("allocated", CloseCode.NOT_ASSIGNED),
        ("not_activated", CloseCode.NO_CREDENTIALS),
        ("revoked", CloseCode.NO_CREDENTIALS),
        ("suspended", CloseCode.SUSPENDED),
        ("retired", CloseCode.RETIRED),
        ("lost", CloseCode.RETIRED),
    ],
)
def test_refused_devices_get_a_close_code_saying_why(world, setup, expected):
    admin = Principal.for_user(world.a.admin)
    secret = credentials.new_device_secret()
    if setup == "unknown":
        serial = "WST01-77777777"
    elif setup == "allocated":
        (terminal,) = in_stock()
        fleet.terminals_allocate(
            actor=SYSTEM, terminal_ids=[terminal.pk], enterprise_id=world.a.enterprise.pk
        )
        serial = terminal.serial
    elif setup == "not_activated":
        terminal, _ = assigned(world.a)
        serial = terminal.serial
    else:
        terminal, real_secret = active(world.a)
        serial = terminal.serial
        secret = secret if setup == "wrong_secret" else real_secret
        if setup == "revoked":
            fleet.terminal_revoke_credentials(actor=admin, terminal_id=terminal.pk)
        elif setup == "suspended":
            fleet.terminal_suspend(actor=admin, terminal_id=terminal.pk)
        elif setup in ("retired", "lost"):
            fleet.terminal_retire(actor=SYSTEM, terminal_id=terminal.pk, lost=setup == "lost")

    async def scenario():
        device = Device(serial, secret)
        await device.open()
        await device.send(device.auth_frame())
        assert await device.closed_with() == expected

    run(scenario)


def test_connection_attempts_beyond_the_limit_per_minute_are_refused(world, settings):
    """Accepted and refused attempts count alike; those over the limit get 4010 and do not
    disturb the connection that is live."""
    settings.TERMINAL_AUTH_ATTEMPTS_PER_MINUTE = 3
    terminal, secret = active(world.a)

    async def scenario():
        first = Device(terminal.serial, secret)
        await first.login()
        wrong = Device(terminal.serial, credentials.new_device_secret())
        await wrong.open()
        await wrong.send(wrong.auth_frame())
        assert await wrong.closed_with() == CloseCode.BAD_PROOF
        second = Device(terminal.serial, secret)
        await second.login()  # the third attempt: still allowed, it replaces the first
        assert await first.closed_with() == CloseCode.REPLACED
        third = Device(terminal.serial, secret)
        await third.open()
        await third.send(third.auth_frame())
        assert await third.closed_with() == CloseCode.RATE_LIMITED
        fourth = Device(terminal.serial, credentials.new_device_secret())
        await fourth.open()
        await fourth.send(fourth.auth_frame())
        assert await fourth.closed_with() == CloseCode.RATE_LIMITED
        await second.send({"type": "heartbeat", "v": 1, "seq": 1})
        assert (await second.recv())["type"] == "heartbeat_ack"  # the refusals kicked no one
        await (await get_router()).flush()
        assert presence.read(terminal.pk)["connected"] == "1"
        await second.bye()

    run(scenario)


def test_replayed_handshake_is_refused(world):
    """An auth frame captured from one connection does not open another."""
    terminal, secret = active(world.a)

    async def scenario():
        first = Device(terminal.serial, secret)
        await first.open()
        captured = first.auth_frame()
        await first.send(captured)
        assert (await first.recv())["type"] == "welcome"
        await first.bye()
        attacker = Device(terminal.serial, "not-the-secret")
        await attacker.open()
        await attacker.send(captured)
        assert await attacker.closed_with() == CloseCode.CHALLENGE_MISMATCH

    run(scenario)


def test_first_frame_must_be_auth(world):
    async def scenario():
        device = Device("WST01-00000001", "x")
        await device.open()
        await device.send({"type": "heartbeat", "v": 1, "seq": 1})
        assert await device.closed_with() == CloseCode.PROTOCOL_ERROR

    run(scenario)


def test_silent_connection_is_closed_after_the_auth_timeout(world, settings):
    settings.TERMINAL_AUTH_TIMEOUT = 1

    async def scenario():
        device = Device("WST01-00000001", "x")
        challenge = await device.open()
        assert challenge["auth_timeout"] == 1
        message = await device.comm.receive_output(timeout=5)
        while message["type"] != "websocket.close":
            message = await device.comm.receive_output(timeout=5)
        assert message["code"] == CloseCode.AUTH_TIMEOUT

    run(scenario)


def test_second_connection_replaces_the_first(world):
    terminal, secret = active(world.a)

    async def scenario():
        first = Device(terminal.serial, secret)
        await first.login()
        second = Device(terminal.serial, secret)
        await second.login()
        assert await first.closed_with() == CloseCode.REPLACED
        await second.send({"type": "heartbeat", "v": 1, "seq": 1})
        assert (await second.recv())["type"] == "heartbeat_ack"
        await second.bye()
        await (await get_router()).flush()

    run(scenario)


# --- abuse -------------------------------------------------------------------------------------


def test_malformed_frames_get_errors_then_a_close(world):
    terminal, secret = active(world.a)

    async def scenario():
        device = Device(terminal.serial, secret)
        await device.login()
        await device.send("{not json")
        assert (await device.recv())["code"] == "malformed"
        await device.send({"type": "teleport", "v": 1})
        assert (await device.recv())["code"] == "unknown_type"
        await device.send({"type": "heartbeat", "v": 1, "seq": -1})
        assert (await device.recv())["code"] == "invalid"
        assert await device.closed_with() == CloseCode.PROTOCOL_ERROR

    run(scenario)


def test_extra_fields_are_refused(world):
    terminal, secret = active(world.a)

    async def scenario():
        device = Device(terminal.serial, secret)
        await device.login()
        await device.send({"type": "heartbeat", "v": 1, "seq": 1, "store_id": 5})
        error = await device.recv()
        assert error["type"] == "error" and error["code"] == "invalid"
        await device.bye()

    run(scenario)


def test_oversized_frame_closes_the_connection(world):
    terminal, secret = active(world.a)

    async def scenario():
        device = Device(terminal.serial, secret)
        await device.login()
        await device.send("x" * 20_000)
        assert (await device.recv())["code"] == "frame_too_large"
        assert await device.closed_with() == CloseCode.FRAME_TOO_LARGE

    run(scenario)


def test_message_flood_is_rate_limited(world, settings):
    settings.TERMINAL_RATE_BURST = 5
    settings.TERMINAL_RATE_PER_SECOND = 1
    terminal, secret = active(world.a)

    async def scenario():
        device = Device(terminal.serial, secret)
        await device.login()
        for seq in range(20):
            await device.send({"type": "heartbeat", "v": 1, "seq": seq})
        codes = []
        while True:
            message = await device.comm.receive_output(timeout=3)
            if message["type"] == "websocket.close":
                break
            codes.append(json.loads(message["text"]).get("code"))
        assert "rate_limited" in codes and message["code"] == CloseCode.RATE_LIMITED

    run(scenario)


# --- commands ----------------------------------------------------------------------------------


def test_command_is_pushed_acked_and_duplicate_acks_change_nothing(world):
    terminal, secret = active(world.a)
    admin = Principal.for_user(world.a.manager)

    async def scenario():
        device = Device(terminal.serial, secret)
        await device.login()
        sent = await database_sync_to_async(commands.command_send)(
            terminal_id=terminal.pk,
            kind="display",
            actor=admin,
            payload={"text": "请付款", "amount_fen": 1250},
        )
        frame = await device.recv()
        assert frame["type"] == "display" and frame["id"] == str(sent.id)
        assert frame["payload"]["amount_fen"] == 1250
        await device.send({"type": "ack", "v": 1, "ref": frame["id"], "status": "ok"})
        await device.send({"type": "ack", "v": 1, "ref": frame["id"], "status": "failed"})
        await device.send({"type": "heartbeat", "v": 1, "seq": 1})
        assert (await device.recv())["type"] == "heartbeat_ack"  # both acks were processed
        await device.bye()

    run(scenario)
    command = TerminalCommand.objects.get(terminal=terminal)
    assert command.state == CommandState.ACKED and command.attempts == 1


def test_unacked_commands_are_resent_after_reconnect(world):
    terminal, secret = active(world.a)
    queued = commands.command_send(
        terminal_id=terminal.pk, kind="config", payload={"brightness": 40}, actor=SYSTEM
    )

    async def scenario():
        device = Device(terminal.serial, secret)
        await device.login()
        first = await device.recv()
        assert first["id"] == str(queued.id)  # queued while offline, sent on connect
        await device.bye()  # no ack
        again = Device(terminal.serial, secret)
        await again.login()
        second = await again.recv()
        assert second["id"] == first["id"]
        await again.send({"type": "ack", "v": 1, "ref": second["id"]})
        await again.send({"type": "heartbeat", "v": 1, "seq": 1})
        assert (await again.recv())["type"] == "heartbeat_ack"
        await again.bye()
        third = Device(terminal.serial, secret)
        await third.login()
        await third.send({"type": "heartbeat", "v": 1, "seq": 2})
        assert (await third.recv())["type"] == "heartbeat_ack"  # nothing owed any more
        await third.bye()

    run(scenario)
    queued.refresh_from_db()
    assert queued.state == CommandState.ACKED and queued.attempts == 2


def test_retiring_closes_the_live_connection(world):
    terminal, secret = active(world.a)

    async def scenario():
        device = Device(terminal.serial, secret)
        await device.login()
        await database_sync_to_async(fleet.terminal_retire)(actor=SYSTEM, terminal_id=terminal.pk)
        assert await device.closed_with() == CloseCode.RETIRED

    run(scenario)


def test_secret_rotation_switches_the_stored_key(world):
    terminal, secret = active(world.a)

    async def scenario():
        device = Device(terminal.serial, secret)
        await device.login()
        await database_sync_to_async(commands.command_send)(
            terminal_id=terminal.pk, kind="rotate_secret", actor=SYSTEM
        )
        frame = await device.recv()
        new_secret = credentials.new_device_secret()
        await device.send(
            {
                "type": "ack",
                "v": 1,
                "ref": frame["id"],
                "result": {"stored_key": credentials.stored_key_for(new_secret)},
            }
        )
        await device.send({"type": "heartbeat", "v": 1, "seq": 1})
        await device.recv()
        await device.bye()
        for usable in (new_secret, secret):  # the old secret works during the overlap
            again = Device(terminal.serial, usable)
            await again.login()
            await again.bye()

    run(scenario)
    terminal.refresh_from_db()
    assert terminal.stored_key != credentials.stored_key_for(secret)
    # The verifier the device reported is applied, never kept where the command history shows it.
    rotation = terminal.commands.get(kind="rotate_secret")
    assert "stored_key" not in (rotation.result or {})
    assert terminal.stored_key not in json.dumps(rotation.result)


# --- handlers registered by other apps ----------------------------------------------------------


@pytest.fixture
def update_status_handler():
    calls = []

    def handler(identity, frame):
        calls.append((identity.terminal_id, frame.id, frame.state))

    protocol.register_handler("update_status", handler)
    yield calls
    protocol.unregister_handler("update_status")


def test_registered_handler_runs_once_per_message_id(world, update_status_handler):
    terminal, secret = active(world.a)
    frame = {
        "type": "update_status",
        "v": 1,
        "id": "us-1",
        "job": "job-9",
        "state": "downloading",
        "progress": 40,
    }

    async def scenario():
        device = Device(terminal.serial, secret)
        await device.login()
        await device.send(frame)
        assert await device.recv() == {"type": "received", "v": 1, "ref": "us-1"}
        await device.send(frame)  # resent after a lost `received`
        assert await device.recv() == {"type": "received", "v": 1, "ref": "us-1"}
        await device.bye()

    run(scenario)
    assert update_status_handler == [(terminal.pk, "us-1", "downloading")]


def test_handlers_can_only_be_registered_for_routable_types():
    with pytest.raises(ValueError):
        protocol.register_handler("heartbeat", lambda identity, frame: None)

"""Simulated B1s devices speaking protocol v1 over real websockets (docs/terminal-protocol.md).

Used by `manage.py simulate_terminals`, the end-to-end tests and the benchmark. It imports nothing
from the server side except the credential helpers a device team would reimplement.
"""

import asyncio
import contextlib
import json
import random
import time
import uuid
from dataclasses import dataclass, field

import httpx
import websockets

from terminals.credentials import client_key, make_proof, new_device_secret, stored_key_for


@dataclass
class DeviceProfile:
    serial: str
    secret: str
    firmware: str = "1.3.2"
    link: str = "usb"
    host_os: str = "windows"


@dataclass
class Flakiness:
    disconnect_per_hour: float = 0.0  # random disconnects per device per hour
    slow_ack: float = 0.0  # share of commands acked after a delay
    lost_ack: float = 0.0  # share of commands whose ack never leaves the device
    slow_ack_seconds: float = 3.0


@dataclass
class Stats:
    connects: int = 0
    refused: dict = field(default_factory=dict)  # close code -> count
    heartbeats: int = 0
    rtts: list = field(default_factory=list)
    commands: int = 0
    duplicates: int = 0
    acks: int = 0
    welcomed: set = field(default_factory=set)

    def refuse(self, code) -> None:
        self.refused[code] = self.refused.get(code, 0) + 1


async def activate(base_url: str, serial: str, code: str) -> str:
    """Exchange an activation code for the device secret, as a device does on first start."""
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        response = await client.post(
            "/api/v1/terminal-activations/", json={"serial": serial, "code": code}
        )
    response.raise_for_status()
    return response.json()["secret"]


class Refused(Exception):
    def __init__(self, code: int | None, reason: str = ""):
        super().__init__(f"refused with {code}: {reason}")
        self.code = code


class SimDevice:
    def __init__(
        self,
        ws_url: str,
        profile: DeviceProfile,
        *,
        stats: Stats | None = None,
        flakiness: Flakiness | None = None,
        heartbeat: float | None = None,
        rng: random.Random | None = None,
        scan_code: str | None = None,
        scan_delay: float = 1.5,
    ):
        self.ws_url = ws_url
        # Payments hook: answer a payment prompt by scanning this code after scan_delay seconds.
        self.scan_code, self.scan_delay = scan_code, scan_delay
        self.profile = profile
        self.stats = stats or Stats()
        self.flaky = flakiness or Flakiness()
        self.heartbeat_override = heartbeat
        self.rng = rng or random.Random()
        self.executed: dict[str, dict] = {}  # command id -> frame: de-dup across reconnects
        self.received: list[dict] = []
        self.pending_secret: str | None = None
        self.ws = None
        self.seq = 0
        self.welcome: dict | None = None
        self.welcomed = asyncio.Event()

    # --- one session -----------------------------------------------------------------------

    async def connect(self) -> dict:
        """Open a connection and authenticate; return the welcome frame or raise Refused."""
        self.ws = await websockets.connect(
            self.ws_url, compression=None, open_timeout=30, ping_interval=None, max_size=2**16
        )
        try:
            challenge = json.loads(await self.ws.recv())
            proof = make_proof(
                secret=self.profile.secret, serial=self.profile.serial, nonce=challenge["nonce"]
            )
            await self.send(
                {
                    "type": "auth",
                    "v": 1,
                    "serial": self.profile.serial,
                    "nonce": challenge["nonce"],
                    "proof": proof,
                }
            )
            while True:
                frame = json.loads(await self.ws.recv())
                if frame["type"] == "welcome":
                    break
        except websockets.ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd else None
            self.stats.refuse(code)
            raise Refused(code, closed.rcvd.reason if closed.rcvd else "") from None
        self.welcome = frame
        self.stats.connects += 1
        self.stats.welcomed.add(self.profile.serial)
        await self.send(
            {
                "type": "hello",
                "v": 1,
                "firmware": self.profile.firmware,
                "model": "WST01",
                "link": self.profile.link,
                "host_os": self.profile.host_os,
                "screens": {"merchant": "on", "customer": "on"},
            }
        )
        self.welcomed.set()
        return frame

    async def send(self, frame: dict) -> None:
        await self.ws.send(json.dumps(frame))

    async def heartbeat(self) -> None:
        self.seq += 1
        self._sent_at = time.perf_counter()
        await self.send({"type": "heartbeat", "v": 1, "seq": self.seq})

    async def serve(self, stop: asyncio.Event) -> None:
        """Heartbeat and answer frames until `stop` is set or the connection drops."""
        interval = self.heartbeat_override or self.welcome["heartbeat_interval"]
        beats = asyncio.create_task(self._beat(interval, stop))
        try:
            async for raw in self.ws:
                await self.on_frame(json.loads(raw))
                if stop.is_set():
                    break
        finally:
            beats.cancel()

    async def _beat(self, interval: float, stop: asyncio.Event) -> None:
        # Spread devices over the interval so that a fleet does not beat in lockstep.
        await asyncio.sleep(self.rng.uniform(0, interval))
        while not stop.is_set():
            await self.heartbeat()
            if self.rng.random() < self.flaky.disconnect_per_hour * interval / 3600:
                await self.ws.close()
                return
            await asyncio.sleep(interval)

    async def on_frame(self, frame: dict) -> None:
        kind = frame.get("type")
        if kind == "heartbeat_ack":
            if frame.get("seq") == self.seq and getattr(self, "_sent_at", None):
                self.stats.rtts.append(time.perf_counter() - self._sent_at)
            self.stats.heartbeats += 1
        elif "id" in frame and "payload" in frame:
            await self.on_command(frame)

    async def on_command(self, frame: dict) -> None:
        command_id = frame["id"]
        self.received.append(frame)
        if command_id in self.executed:
            self.stats.duplicates += 1  # executed before: ack again, do not execute again
        else:
            self.stats.commands += 1
            self.executed[command_id] = frame
        ack = {"type": "ack", "v": 1, "ref": command_id, "status": "ok"}
        if frame["type"] == "rotate_secret":
            self.pending_secret = self.pending_secret or new_device_secret()
            ack["result"] = {"stored_key": stored_key_for(self.pending_secret)}
        if self.rng.random() < self.flaky.lost_ack:
            return
        if self.rng.random() < self.flaky.slow_ack:
            await asyncio.sleep(self.flaky.slow_ack_seconds)
        await self.send(ack)
        self.stats.acks += 1
        scanned = self.__dict__.setdefault("_scanned", set())
        if self.scan_code and command_id not in scanned and self._is_payment_prompt(frame):
            scanned.add(command_id)
            asyncio.get_running_loop().call_later(
                self.scan_delay, lambda: asyncio.ensure_future(self._scan(frame))
            )

    # --- payments hook: a cashier scanning the customer's code (payments registers `scan`) ----

    @staticmethod
    def _is_payment_prompt(frame: dict) -> bool:
        payload = frame.get("payload") or {}
        return (
            frame["type"] == "display" and bool(payload.get("amount_fen")) and "qr" not in payload
        )

    async def _scan(self, frame: dict) -> None:
        amount = frame["payload"]["amount_fen"]
        # Disconnected meanwhile: the payment's prompt expires on its own.
        with contextlib.suppress(websockets.WebSocketException):
            await self.send({"type": "scan", "v": 1, "id": new_message_id(),
                             "code": self.scan_code, "amount_fen": amount})  # fmt: skip

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()

    # --- the device's life -----------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Stay connected until `stop`: reconnect with jittered backoff, as the protocol asks."""
        backoff = 1.0
        while not stop.is_set():
            try:
                await self.connect()
                if self.pending_secret:  # a rotation whose ack got through: keep the new secret
                    self.profile.secret, self.pending_secret = self.pending_secret, None
                backoff = 1.0
                await self.serve(stop)
            except Refused as refused:
                if refused.code in (4003, 4004, 4005, 4006, 4007, 4008):
                    if refused.code == 4003 and self.pending_secret:
                        self.profile.secret, self.pending_secret = self.pending_secret, None
                        continue
                    return  # the platform does not want this device: do not hammer it
            except (TimeoutError, OSError, websockets.WebSocketException):
                pass
            finally:
                await self.close()
            if stop.is_set():
                return
            await asyncio.sleep(self.rng.uniform(0, backoff))
            backoff = min(backoff * 2, 60)


def client_key_hex(secret: str) -> str:
    return client_key(secret).hex()


def new_message_id() -> str:
    return uuid.uuid4().hex

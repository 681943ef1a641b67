"""The device websocket, `/ws/terminal/`: protocol v1 (docs/terminal-protocol.md).

The consumer authenticates, keeps the connection's rate limit and strikes, and hands every state
change to a service (through database_sync_to_async) or to the node router (memory, then Redis in
batches). It has no channel-layer channel of its own: the router's node channel reaches it.
"""

import asyncio
import json
import logging
import time
import uuid

import psycopg
import pydantic
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from config.request_id import set_request_id
from terminals import credentials, presence
from terminals import protocol as p
from terminals.protocol import CloseCode
from terminals.router import get_router
from terminals.services import commands as command_services
from terminals.services.devices import AuthRefused, device_check_in

logger = logging.getLogger(__name__)

_MAX_STRIKES = 3


class TerminalConsumer(AsyncWebsocketConsumer):
    # No channel layer per connection: the process-wide router owns one node channel.
    channel_layer_alias = "terminals-no-layer"

    async def dispatch(self, message):
        # Skip Channels' per-message close_old_connections thread hop: heartbeats never touch the
        # database, and database_sync_to_async already does it for the calls that do.
        handler = getattr(self, message["type"].replace(".", "_"), None)
        if handler is None:
            raise ValueError(f"no handler for {message['type']}")
        await handler(message)

    # --- connection -------------------------------------------------------------------------

    async def connect(self) -> None:
        self.request_id = set_request_id()
        self.conn = uuid.uuid4().hex
        self.identity: p.DeviceIdentity | None = None
        self.nonce = credentials.new_nonce()
        self.strikes = 0
        self.tokens = float(settings.TERMINAL_RATE_BURST)
        self.tokens_at = time.monotonic()
        self.closing = False
        self.interval = settings.TERMINAL_HEARTBEAT_INTERVAL
        self.router = await get_router()
        await self.accept()
        timeout = settings.TERMINAL_AUTH_TIMEOUT
        await self._send(
            p.Challenge(nonce=self.nonce, server_time=time.time(), auth_timeout=timeout)
        )
        self.auth_timer = asyncio.get_running_loop().call_later(timeout, self._auth_expired)

    def _auth_expired(self) -> None:
        if self.identity is None and not self.closing:
            self.router.spawn(self._refuse(CloseCode.AUTH_TIMEOUT, "no auth frame in time"))

    async def disconnect(self, code) -> None:
        self.auth_timer.cancel() if hasattr(self, "auth_timer") else None
        identity = getattr(self, "identity", None)
        if identity is None:
            return
        self.router.detach(identity.terminal_id, self)
        now = time.time()
        reason = getattr(self, "close_reason", None) or f"connection closed ({code})"
        self.router.release(
            identity.terminal_id,
            identity.enterprise_id,
            self.conn,
            {"connected": "0", "disconnected_at": now, "last_seen": now, "reason": reason},
            presence.presence_ttl(self.interval),
            code=code,
            reason=reason,
            node=self.router.node,
        )

    async def _refuse(self, code: int, reason: str) -> None:
        if self.closing:
            return
        self.closing = True
        self.close_reason = reason
        await self._send(p.Error(code="closing", message=reason))
        await self.close(code=code, reason=reason)

    async def _send(self, frame) -> None:
        await self.send(text_data=p.dump(frame))

    # --- inbound ----------------------------------------------------------------------------

    async def receive(self, text_data=None, bytes_data=None) -> None:
        if self.closing:
            return
        raw = text_data if text_data is not None else bytes_data
        if raw is not None and len(raw) > p.MAX_FRAME_BYTES:
            await self._send(
                p.Error(
                    code="frame_too_large",
                    message=f"frames are limited to {p.MAX_FRAME_BYTES} bytes",
                )
            )
            await self._refuse(CloseCode.FRAME_TOO_LARGE, "frame too large")
            return
        if not self._take_token():
            await self._strike("rate_limited", "too many messages", CloseCode.RATE_LIMITED)
            return
        frame = await self._parse(raw)
        if frame is None:
            return
        if self.identity is None:
            await self._authenticate(frame)
            return
        handler = getattr(self, f"on_{frame.type}")
        await handler(frame)

    def _take_token(self) -> bool:
        now = time.monotonic()
        rate, burst = settings.TERMINAL_RATE_PER_SECOND, settings.TERMINAL_RATE_BURST
        self.tokens = min(burst, self.tokens + (now - self.tokens_at) * rate)
        self.tokens_at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True

    async def _parse(self, raw):
        try:
            data = json.loads(raw) if raw is not None else None
        except (ValueError, UnicodeDecodeError):
            await self._strike("malformed", "frame is not valid JSON")
            return None
        if not isinstance(data, dict):
            await self._strike("malformed", "a frame is a JSON object")
            return None
        kind, version = data.get("type"), data.get("v")
        if kind not in p.DEVICE_TYPES:
            await self._strike("unknown_type", f"unknown frame type {kind!r}", ref=data.get("id"))
            return None
        if version != p.PROTOCOL_VERSION:
            await self._send(p.Error(code="unsupported_version", message="this server speaks v1"))
            await self._refuse(CloseCode.UNSUPPORTED_VERSION, "unsupported protocol version")
            return None
        try:
            return p.DEVICE_FRAME.validate_python(data)
        except pydantic.ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(map(str, first["loc"][1:])) or kind
            await self._strike("invalid", f"{where}: {first['msg']}", ref=data.get("id"))
            return None

    async def _strike(
        self, code: str, message: str, close_code: int = CloseCode.PROTOCOL_ERROR, ref=None
    ) -> None:
        self.strikes += 1
        await self._send(
            p.Error(code=code, message=message, ref=ref if isinstance(ref, str) else None)
        )
        if self.strikes >= _MAX_STRIKES:
            await self._refuse(close_code, f"too many bad frames ({code})")

    # --- authentication ---------------------------------------------------------------------

    async def _authenticate(self, frame) -> None:
        if not isinstance(frame, p.Auth):
            await self._refuse(CloseCode.PROTOCOL_ERROR, "the first frame must be auth")
            return
        if frame.nonce != self.nonce:
            await self._refuse(CloseCode.CHALLENGE_MISMATCH, "auth does not answer this challenge")
            return
        # Every attempt counts against the serial's limit per minute: a refused one here, an
        # accepted one in the same Redis round trip that claims its presence (_admit). A serial
        # already found over it this minute is refused before it costs anything.
        if self.router.known_over_limit(frame.serial):
            await self._refuse(CloseCode.RATE_LIMITED, "too many connection attempts")
            return
        try:
            identity, interval, pending = await device_check_in(
                self.router.db, serial=frame.serial, nonce=frame.nonce, proof=frame.proof
            )
        except AuthRefused as refused:
            logger.info("terminal %s refused: %s", frame.serial, refused.reason)
            if await self.router.refused_attempt(frame.serial):
                await self._refuse(CloseCode.RATE_LIMITED, "too many connection attempts")
            else:
                await self._refuse(refused.close_code, refused.reason)
            return
        except (psycopg.Error, TimeoutError):
            logger.exception("check-in of terminal %s failed", frame.serial)
            await self._refuse(CloseCode.SERVER_ERROR, "check-in failed; reconnect")
            return
        if self.closing:
            # Timed out (or closed) while the lookup ran: this connection must not claim the
            # device, or it would kick the device's newer connection.
            return
        self.auth_timer.cancel()
        await self._admit(identity, interval, pending)

    async def _admit(self, identity: p.DeviceIdentity, interval: int, pending: list) -> None:
        now = time.time()
        ttl = presence.presence_ttl(interval)
        fields = {
            "connected": "1",
            "connected_at": now,
            "last_seen": now,
            "interval": interval,
            "grace": settings.TERMINAL_HEARTBEAT_GRACE,
        }
        previous = await self.router.claim(
            identity.terminal_id, identity.serial, self.conn, fields, ttl
        )
        if previous is None:
            await self._refuse(CloseCode.RATE_LIMITED, "too many connection attempts")
            return
        self.identity, self.interval, self.previous = identity, interval, previous
        local = self.router.attach(identity.terminal_id, self)
        if local is not None:
            await local.replaced()
        elif previous.get("connected") == "1" and previous.get("channel") not in (
            None,
            "",
            self.router.channel,
        ):
            kick = {
                "type": "terminal.kick",
                "terminal_id": identity.terminal_id,
                "conn": previous.get("conn"),
            }
            await self.router.send_to_node(previous["channel"], kick)
        self.router.event(
            identity.terminal_id,
            identity.enterprise_id,
            "connected",
            node=self.router.node,
            replaced=bool(previous.get("conn")),
        )
        await self._send(
            p.Welcome(
                terminal_id=identity.terminal_id,
                serial=identity.serial,
                server_time=now,
                heartbeat_interval=interval,
                heartbeat_grace=settings.TERMINAL_HEARTBEAT_GRACE,
                config={
                    "max_frame_bytes": p.MAX_FRAME_BYTES,
                    "rate_per_second": settings.TERMINAL_RATE_PER_SECOND,
                },
            )
        )
        await self._resend(pending)

    async def _resend(self, pending: list[tuple[str, str]]) -> None:
        """Send every command still owed (queued or unacked), oldest first; record the attempt."""
        for _, frame in pending:
            await self.send(text_data=frame)
        if pending:
            await database_sync_to_async(command_services.commands_mark_sent)(
                terminal_id=self.identity.terminal_id, command_ids=[cid for cid, _ in pending]
            )

    async def replaced(self) -> None:
        await self._refuse(CloseCode.REPLACED, "replaced by a newer connection")

    # --- device frames ----------------------------------------------------------------------

    async def on_auth(self, frame) -> None:
        await self._strike("already_authenticated", "auth is only valid as the first frame")

    async def on_hello(self, frame: p.Hello) -> None:
        identity = self.identity
        screens = frame.screens.model_dump()
        self.router.touch(
            identity.terminal_id,
            presence.presence_ttl(self.interval),
            last_seen=time.time(),
            fw=frame.firmware,
            link=frame.link,
            host=frame.host_os,
            screens=json.dumps(screens),
        )
        before = {k: self.previous.get(k) for k in ("fw", "link", "host")}
        after = {"fw": frame.firmware, "link": frame.link, "host": frame.host_os}
        if before != after:
            self.router.event(
                identity.terminal_id,
                identity.enterprise_id,
                "hello",
                before=before,
                after=after,
                screens=screens,
            )
            self.previous = {**self.previous, **after}

    async def on_heartbeat(self, frame: p.Heartbeat) -> None:
        now = time.time()
        self.router.touch(
            self.identity.terminal_id, presence.presence_ttl(self.interval), last_seen=now
        )
        await self._send(p.HeartbeatAck(seq=frame.seq, server_time=now))

    async def on_event(self, frame: p.Event) -> None:
        identity = self.identity
        if await self._first_time(frame.id):
            changes = {"last_seen": time.time()}
            if frame.link:
                changes["link"] = frame.link
            if frame.host_os:
                changes["host"] = frame.host_os
            if frame.screens:
                changes["screens"] = json.dumps(frame.screens.model_dump())
            self.router.touch(identity.terminal_id, presence.presence_ttl(self.interval), **changes)
            self.router.event(
                identity.terminal_id,
                identity.enterprise_id,
                f"device.{frame.kind}",
                **frame.model_dump(exclude={"type", "v"}, exclude_none=True),
            )
        await self._send(p.Received(ref=frame.id))

    async def on_ack(self, frame: p.Ack) -> None:
        await database_sync_to_async(command_services.command_ack)(
            terminal_id=self.identity.terminal_id,
            command_id=frame.ref,
            ok=frame.status == "ok",
            error=frame.error or "",
            result=frame.result,
        )

    async def on_scan(self, frame: p.Scan) -> None:
        await self._hand_over(frame)

    async def on_update_status(self, frame: p.UpdateStatus) -> None:
        await self._hand_over(frame)

    async def _hand_over(self, frame) -> None:
        handler = p.handler_for(frame.type)
        if handler is None:
            await self._send(
                p.Error(
                    code="unavailable",
                    ref=frame.id,
                    message=f"{frame.type} is not handled by this platform yet",
                )
            )
            return
        key = presence.seen_key(self.identity.terminal_id, frame.id)
        if await self.router.redis.get(key) == "done":
            await self._send(p.Received(ref=frame.id))
            return
        try:
            await database_sync_to_async(handler)(self.identity, frame)
        except Exception:
            logger.exception("%s handler failed for terminal %s", frame.type, self.identity.serial)
            await self._send(
                p.Error(
                    code="handler_failed",
                    ref=frame.id,
                    message="could not process the message; retry it",
                )
            )
            return
        await self.router.redis.set(key, "done", ex=settings.TERMINAL_DEDUP_SECONDS)
        await self._send(p.Received(ref=frame.id))

    async def _first_time(self, message_id: str) -> bool:
        key = presence.seen_key(self.identity.terminal_id, message_id)
        return bool(
            await self.router.redis.set(key, "1", nx=True, ex=settings.TERMINAL_DEDUP_SECONDS)
        )

    # --- router messages --------------------------------------------------------------------

    async def router_message(self, message: dict) -> None:
        try:
            await self._router_message(message)
        except OSError:
            # The device left while being told something (uvicorn's ClientDisconnected): what it
            # is owed stays queued for its next connection.
            logger.info("terminal %s left before a %s reached it",
                        self.identity and self.identity.terminal_id, message["type"])  # fmt: skip

    async def _router_message(self, message: dict) -> None:
        if self.closing or self.identity is None:
            return
        kind = message["type"]
        if kind == "terminal.deliver":
            await self.send(text_data=message["frame"])
            await database_sync_to_async(command_services.commands_mark_sent)(
                terminal_id=self.identity.terminal_id, command_ids=[message["command_id"]]
            )
        elif kind == "terminal.close":
            await self._refuse(
                message.get("code", CloseCode.SERVER_ERROR),
                message.get("reason", "closed by the platform"),
            )
        elif kind == "terminal.kick" and message.get("conn") == self.conn:
            await self.replaced()

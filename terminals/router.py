"""One router per ASGI process (per event loop): devices connected here, and their live presence.

Instead of a channel-layer channel and group per device, the process owns one channel (the
"node channel"); services reach a device by reading its node channel from Redis presence and
sending there (terminals.live). Heartbeats only touch this router's memory; a flush loop writes
the changed presence hashes and buffered timeline events to Redis once a second in one pipeline.
"""

import asyncio
import json
import logging
import os
import socket
import time
import weakref

import redis.asyncio as aioredis
from channels.layers import get_channel_layer
from django.conf import settings

from config.loop_db import LoopDatabase
from terminals import presence

logger = logging.getLogger(__name__)

# Count the connection attempt (KEYS[4], per serial and minute); beyond the limit claim nothing
# and return nil. Otherwise claim the terminal's presence for the new connection and return the
# previous channel and conn.
_CLAIM = """
local attempts = redis.call('INCR', KEYS[4])
if attempts == 1 then redis.call('EXPIRE', KEYS[4], 120) end
if attempts > tonumber(ARGV[3]) then return nil end
local old = redis.call('HMGET', KEYS[1], 'channel', 'conn', 'connected', 'fw', 'link', 'host')
redis.call('HDEL', KEYS[1], 'disconnected_at', 'reason')
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[1], KEYS[3])
return old
"""
# Mark the terminal disconnected and record the event, only if this connection still owns it
# (a device that reconnected before the flush keeps its new connection, and no event is told).
_RELEASE = """
if redis.call('HGET', KEYS[1], 'conn') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 5))
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[2], KEYS[3])
redis.call('RPUSH', KEYS[4], ARGV[4])
return 1
"""


class NodeRouter:
    def __init__(self) -> None:
        self.node = f"{socket.gethostname()}:{os.getpid()}"
        self.channel: str | None = None
        self.connections: dict[int, object] = {}
        self.dirty: dict[int, dict] = {}
        self.ttl: dict[int, int] = {}
        self.events: list[str] = []
        self.releases: list[tuple[int, list]] = []
        self.over_limit: dict[str, int] = {}
        # Bounded: a storm of check-ins queues for a connection instead of opening thousands.
        self.redis = aioredis.Redis(
            connection_pool=aioredis.BlockingConnectionPool.from_url(
                settings.REDIS_URL, decode_responses=True, max_connections=64
            )
        )
        self.db = LoopDatabase(application_name="shouyin-device-check-in")
        self._claim = self.redis.register_script(_CLAIM)
        self._release = self.redis.register_script(_RELEASE)
        self._tasks: list[asyncio.Task] = []
        self._background: set[asyncio.Task] = set()
        self._started = asyncio.Event()
        self._starting = False

    async def start(self) -> None:
        if self._starting:
            await self._started.wait()
            return
        self._starting = True
        # The default prefix: channels_redis serves all process-local channels from one list.
        self.channel = await get_channel_layer().new_channel()
        self._tasks = [
            asyncio.create_task(self._receive_loop(), name="terminals-node-receive"),
            asyncio.create_task(self._flush_loop(), name="terminals-presence-flush"),
        ]
        self._started.set()

    # --- connections ------------------------------------------------------------------------

    async def claim(
        self, terminal_id: int, serial: str, conn: str, fields: dict, ttl: int
    ) -> dict | None:
        """Count the attempt and record the new connection as the terminal's live one; return
        what was there before, or None if the serial is over its attempts per minute (then
        nothing is claimed). One round trip for both."""
        now = time.time()
        flat: list = []
        for key, value in {
            **fields,
            "channel": self.channel,
            "node": self.node,
            "conn": conn,
        }.items():
            flat += [key, value]
        old = await self._claim(
            keys=[
                presence.presence_key(terminal_id),
                presence.INDEX_KEY,
                str(terminal_id),
                _attempts_key(serial, now),
            ],
            args=[now, ttl, settings.TERMINAL_AUTH_ATTEMPTS_PER_MINUTE, *flat],
        )
        if old is None:
            self.note_over_limit(serial)
            return None
        keys = ("channel", "conn", "connected", "fw", "link", "host")
        return dict(zip(keys, old, strict=True))

    async def refused_attempt(self, serial: str) -> bool:
        """Count a refused connection attempt; True if the serial is now over its limit."""
        key = _attempts_key(serial, time.time())
        pipe = self.redis.pipeline(transaction=False)
        pipe.incr(key)
        pipe.expire(key, 120)
        count, _ = await pipe.execute()
        over = count > settings.TERMINAL_AUTH_ATTEMPTS_PER_MINUTE
        if over:
            self.note_over_limit(serial)
        return over

    def note_over_limit(self, serial: str) -> None:
        """Remember, for the rest of this minute, a serial Redis found over its attempts limit:
        its further attempts on this node are refused before they cost a query or a round trip."""
        minute = int(time.time() // 60)
        if len(self.over_limit) > 10_000:
            self.over_limit = {s: m for s, m in self.over_limit.items() if m == minute}
        self.over_limit[serial] = minute

    def known_over_limit(self, serial: str) -> bool:
        return self.over_limit.get(serial) == int(time.time() // 60)

    def release(
        self, terminal_id: int, enterprise_id: int | None, conn: str, fields: dict, ttl: int, **data
    ) -> None:
        """Mark a closed connection disconnected at the next flush (one pipeline for all of a
        storm's disconnects, not a round trip each), with its "disconnected" event."""
        flat: list = []
        for key, value in fields.items():
            flat += [key, value]
        event = _event_json(terminal_id, enterprise_id, "disconnected", data)
        self.releases.append((terminal_id, [conn, time.time(), ttl, event, *flat]))

    def attach(self, terminal_id: int, consumer) -> object | None:
        previous = self.connections.get(terminal_id)
        self.connections[terminal_id] = consumer
        return previous if previous is not consumer else None

    def detach(self, terminal_id: int, consumer) -> None:
        if self.connections.get(terminal_id) is consumer:
            del self.connections[terminal_id]

    def touch(self, terminal_id: int, ttl: int, **fields) -> None:
        self.dirty.setdefault(terminal_id, {}).update(fields)
        self.ttl[terminal_id] = ttl

    def event(self, terminal_id: int, enterprise_id: int | None, kind: str, **data) -> None:
        self.events.append(_event_json(terminal_id, enterprise_id, kind, data))

    def spawn(self, coroutine) -> None:
        """Run a coroutine in the background, keeping a reference until it is done."""
        task = asyncio.create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def send_to_node(self, channel: str, message: dict) -> None:
        try:
            await get_channel_layer().send(channel, message)
        except Exception:
            logger.warning("could not reach node channel %s", channel, exc_info=True)

    # --- loops ------------------------------------------------------------------------------

    async def _receive_loop(self) -> None:
        layer = get_channel_layer()
        while True:
            try:
                message = await layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("node channel receive failed")
                await asyncio.sleep(0.5)
                continue
            consumer = self.connections.get(message.get("terminal_id"))
            if consumer is not None:
                self.spawn(consumer.router_message(message))

    async def flush(self) -> None:
        dirty, self.dirty = self.dirty, {}
        ttls, self.ttl = self.ttl, {}
        events, self.events = self.events, []
        releases, self.releases = self.releases, []
        if not dirty and not events and not releases:
            return
        now = time.time()
        pipe = self.redis.pipeline(transaction=False)
        for terminal_id, fields in dirty.items():
            key = presence.presence_key(terminal_id)
            pipe.hset(key, mapping=fields)
            pipe.expire(key, ttls.get(terminal_id, 120))
        if dirty:
            pipe.zadd(presence.INDEX_KEY, {str(tid): now for tid in dirty})
        if events:
            pipe.rpush(presence.EVENTS_KEY, *events)
        for terminal_id, args in releases:
            keys = [presence.presence_key(terminal_id), presence.INDEX_KEY, str(terminal_id)]
            await self._release(keys=[*keys, presence.EVENTS_KEY], args=args, client=pipe)
        try:
            await pipe.execute()
        except Exception:
            # Disconnects and events are owed to Redis: keep them for the next flush. (Presence
            # fields are rewritten by the devices' next heartbeats.)
            self.releases[:0] = releases
            self.events[:0] = events
            raise

    async def _flush_loop(self) -> None:
        period = settings.TERMINAL_PRESENCE_WRITE_SECONDS
        try:
            while True:
                await asyncio.sleep(period)
                try:
                    await self.flush()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    logger.exception("presence flush to Redis failed")
        finally:
            # The loop is ending (server shutdown, or a test's loop): give back what it holds.
            await self.close()

    async def close(self) -> None:
        await self.db.close()
        try:
            await self.flush()
            await self.redis.connection_pool.disconnect()
        except Exception:
            logger.warning("closing the router's Redis failed", exc_info=True)


def _attempts_key(serial: str, now: float) -> str:
    return f"{presence.PREFIX}auth:{serial}:{int(now // 60)}"


def _event_json(terminal_id: int, enterprise_id: int | None, kind: str, data: dict) -> str:
    return json.dumps(
        {
            "terminal_id": terminal_id,
            "enterprise_id": enterprise_id,
            "kind": kind,
            "at": time.time(),
            "data": data,
        }
    )


_routers: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, NodeRouter]" = (
    weakref.WeakKeyDictionary()
)


async def get_router() -> NodeRouter:
    loop = asyncio.get_running_loop()
    router = _routers.get(loop)
    if router is None:
        router = _routers[loop] = NodeRouter()
    await router.start()
    return router

"""Live presence in Redis, and the rules that turn it into online / overdue / recently seen / offline.

One hash per connected (or recently connected) terminal, `shouyin:term:p:<id>`, with a TTL, plus
an index (sorted set of terminal id → time of the last write) that the flush task reads to find
what changed. The ASGI node writes both in batches (terminals.router); the flush task copies them to
the database in batches (terminals.services.presence). Nothing here touches the database.
"""

import json
import time
from dataclasses import dataclass
from functools import cache

import redis
from django.conf import settings

from terminals.models import Presence

PREFIX = "shouyin:term:"
INDEX_KEY = PREFIX + "pidx"
CURSOR_KEY = PREFIX + "pcursor"
EVENTS_KEY = PREFIX + "events"


def presence_key(terminal_id: int) -> str:
    return f"{PREFIX}p:{terminal_id}"


def seen_key(terminal_id: int, message_id: str) -> str:
    return f"{PREFIX}seen:{terminal_id}:{message_id}"


@cache
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, decode_responses=True)


def client() -> redis.Redis:
    return _client(settings.REDIS_URL)


def heartbeat_interval() -> int:
    return settings.TERMINAL_HEARTBEAT_INTERVAL


def heartbeat_grace() -> int:
    return settings.TERMINAL_HEARTBEAT_GRACE


def presence_ttl(interval: int) -> int:
    """Keep a hash until the terminal would be offline anyway: interval + grace + recent window."""
    return interval + heartbeat_grace() + settings.TERMINAL_RECENTLY_SEEN_SECONDS


@dataclass(frozen=True)
class Verdict:
    presence: str
    reason: str
    due_at: float | None  # when the verdict changes by itself (no new heartbeat), epoch seconds


def judge(live: dict | None, *, now: float) -> Verdict:
    """Decide a terminal's presence from its Redis hash (None when the hash has expired)."""
    if not live:
        return Verdict(Presence.OFFLINE, "no contact (presence expired)", None)
    last_seen = float(live.get("last_seen") or 0)
    interval = int(live.get("interval") or heartbeat_interval())
    overdue_at = last_seen + interval + heartbeat_grace()
    if live.get("connected") == "1":
        if now <= overdue_at:
            return Verdict(Presence.ONLINE, f"heartbeat every {interval}s", overdue_at)
        silent = int(now - last_seen)
        return Verdict(Presence.OVERDUE, f"connected, no heartbeat for {silent}s", None)
    reason = live.get("reason") or "disconnected"
    offline_at = last_seen + settings.TERMINAL_RECENTLY_SEEN_SECONDS
    if now <= offline_at:
        return Verdict(Presence.RECENTLY_SEEN, reason, offline_at)
    return Verdict(Presence.OFFLINE, reason, None)


def read_many(terminal_ids: list[int]) -> dict[int, dict]:
    pipe = client().pipeline(transaction=False)
    for terminal_id in terminal_ids:
        pipe.hgetall(presence_key(terminal_id))
    return {tid: values for tid, values in zip(terminal_ids, pipe.execute(), strict=True) if values}


def read(terminal_id: int) -> dict | None:
    return client().hgetall(presence_key(terminal_id)) or None


def changed_since(cursor: float) -> list[int]:
    return [int(member) for member in client().zrangebyscore(INDEX_KEY, cursor, "+inf")]


def forget(terminal_ids: list[int]) -> None:
    if terminal_ids:
        client().zrem(INDEX_KEY, *terminal_ids)


def drop(terminal_id: int) -> None:
    """Remove a terminal's live presence at once (retired, lost, credentials revoked)."""
    pipe = client().pipeline(transaction=False)
    pipe.delete(presence_key(terminal_id))
    pipe.zadd(INDEX_KEY, {str(terminal_id): time.time()})
    pipe.execute()


def take_events(limit: int = 5000) -> list[dict]:
    """Pop up to `limit` buffered timeline events (connects, disconnects, hello, device events)."""
    pipe = client().pipeline(transaction=True)
    pipe.lrange(EVENTS_KEY, 0, limit - 1)
    pipe.ltrim(EVENTS_KEY, limit, -1)
    raw, _ = pipe.execute()
    return [json.loads(item) for item in raw]

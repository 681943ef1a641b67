"""Presence: live in Redis, copied to the database in batches, changes published to groups."""

import asyncio
import time

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db.backends.utils import CursorWrapper

from terminals import presence
from terminals.models import Presence, TerminalEvent
from terminals.router import get_router
from terminals.services.presence import events_prune, presence_flush
from tests.terminals.factories import active
from tests.terminals.test_consumer import Device, run

pytestmark = pytest.mark.django_db(transaction=True)


def test_judge_follows_the_heartbeat_timers():
    now = 1_000_000.0
    interval, grace = settings.TERMINAL_HEARTBEAT_INTERVAL, settings.TERMINAL_HEARTBEAT_GRACE
    live = {"connected": "1", "last_seen": str(now), "interval": str(interval)}
    assert presence.judge(live, now=now + interval).presence == Presence.ONLINE
    overdue = presence.judge(live, now=now + interval + grace + 1)
    assert overdue.presence == Presence.OVERDUE and "no heartbeat" in overdue.reason
    gone = {**live, "connected": "0", "reason": "connection closed (1000)"}
    recent = presence.judge(gone, now=now + 5)
    assert recent.presence == Presence.RECENTLY_SEEN and recent.reason == "connection closed (1000)"
    late = now + settings.TERMINAL_RECENTLY_SEEN_SECONDS + 1
    assert presence.judge(gone, now=late).presence == Presence.OFFLINE
    assert presence.judge(None, now=now).presence == Presence.OFFLINE


def test_presence_goes_online_overdue_and_offline_and_every_change_is_published(world):
    terminal, secret = active(world.a)
    layer = get_channel_layer()
    groups = [
        f"store.{terminal.store_id}",
        f"merchant.{terminal.merchant_id}",
        f"enterprise.{terminal.enterprise_id}",
        "ops",
    ]

    async def scenario():
        inbox = await layer.new_channel()
        for group in groups:
            await layer.group_add(group, inbox)

        async def published() -> dict:
            """One presence change reaches each of the four groups; return it."""
            copies = [await asyncio.wait_for(layer.receive(inbox), 10) for _ in groups]
            assert {m["type"] for m in copies} == {"terminal.presence"}
            assert len({m["presence"] for m in copies}) == 1
            return copies[0]

        async def flush(now=None) -> int:
            return await database_sync_to_async(presence_flush)(now=now)

        device = Device(terminal.serial, secret)
        await device.login()
        await device.hello(firmware="1.4.0")
        await device.send({"type": "heartbeat", "v": 1, "seq": 1})
        await device.recv()
        router = await get_router()
        await router.flush()

        assert await flush() == 1
        message = await published()
        assert message["presence"] == "online" and message["firmware_version"] == "1.4.0"

        live = presence.read(terminal.pk)
        later = float(live["last_seen"]) + 30 + settings.TERMINAL_HEARTBEAT_GRACE + 1
        assert await flush(later) == 1
        assert (await published())["presence"] == "overdue"

        await device.bye()
        await router.flush()
        assert await flush() == 1
        message = await published()
        assert message["presence"] == "recently_seen" and "closed" in message["reason"]

        presence.client().delete(presence.presence_key(terminal.pk))  # the TTL lapsed
        far = time.time() + settings.TERMINAL_RECENTLY_SEEN_SECONDS + 60
        assert await flush(far) == 1
        assert (await published())["presence"] == "offline"
        assert await flush(far) == 0  # nothing new, nothing announced

    run(scenario)
    terminal.refresh_from_db()
    assert terminal.presence == Presence.OFFLINE
    assert terminal.firmware_version == "1.4.0" and terminal.link == "otg"
    assert terminal.node and terminal.last_seen_at is not None
    kinds = set(TerminalEvent.objects.filter(terminal=terminal).values_list("kind", flat=True))
    assert {"connected", "hello", "disconnected", "presence"} <= kinds


def test_heartbeats_do_not_touch_the_database(world, monkeypatch):
    terminal, secret = active(world.a)
    statements = []
    original = CursorWrapper._execute

    def counting(self, sql, *args, **kwargs):
        statements.append(sql)
        return original(self, sql, *args, **kwargs)

    async def scenario():
        device = Device(terminal.serial, secret)
        await device.login()
        await device.hello()
        await device.send({"type": "heartbeat", "v": 1, "seq": 0})
        await device.recv()
        monkeypatch.setattr(CursorWrapper, "_execute", counting)  # every connection, every thread
        for seq in range(1, 20):
            await device.send({"type": "heartbeat", "v": 1, "seq": seq})
            assert (await device.recv())["seq"] == seq
        await (await get_router()).flush()
        monkeypatch.undo()
        await device.bye()

    run(scenario)
    assert statements == []


def test_old_events_are_pruned(world):
    terminal, _ = active(world.a)
    TerminalEvent.objects.filter(terminal=terminal).update(at="2020-01-01T00:00:00Z")
    recent = TerminalEvent.objects.create(
        terminal=terminal, kind="presence", at="2099-01-01T00:00:00Z"
    )
    assert events_prune(days=30) >= 3
    assert list(TerminalEvent.objects.filter(terminal=terminal)) == [recent]


@pytest.mark.slow
def test_presence_flush_task_runs_in_a_real_worker(world, celery_worker):
    from terminals.models import Terminal
    from terminals.tasks import presence_flush_task
    from tests.conftest import wait_until

    terminal, _ = active(world.a)
    now = time.time()
    presence.client().hset(
        presence.presence_key(terminal.pk),
        mapping={
            "connected": "1",
            "last_seen": now,
            "connected_at": now,
            "interval": 30,
            "fw": "1.3.2",
            "link": "usb",
            "host": "linux",
            "node": "node-1",
        },
    )
    presence.client().zadd(presence.INDEX_KEY, {str(terminal.pk): now})
    presence_flush_task.delay()
    wait_until(
        lambda: Terminal.objects.filter(pk=terminal.pk, presence=Presence.ONLINE).exists(),
        what="the worker to flush presence",
    )

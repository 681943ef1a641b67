"""Copy live presence from Redis to the database in batches, and announce what changed.

Run by the `terminals.presence_flush` beat task every few seconds. Reads only the terminals whose
Redis presence changed since the last run plus those whose verdict is due to change by itself
(an online terminal turning overdue, a recently seen one turning offline), so its cost follows
the number of changes, not the size of the fleet.
"""

import time
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from terminals import live, presence
from terminals.models import Presence, Terminal, TerminalEvent

_BATCH = 5000
_FIELDS = [
    "presence",
    "presence_reason",
    "presence_changed_at",
    "presence_due_at",
    "last_seen_at",
    "connected_at",
    "disconnected_at",
    "node",
    "firmware_version",
    "link",
    "host_os",
    "screens",
]


def _dt(value) -> datetime | None:
    return datetime.fromtimestamp(float(value), tz=UTC) if value else None


def _live_values(live_hash: dict | None, verdict: presence.Verdict, now: float) -> dict:
    values = {"presence": verdict.presence, "presence_reason": verdict.reason[:200]}
    due = verdict.due_at
    if live_hash and verdict.presence == Presence.OVERDUE:
        # An overdue terminal turns offline when its hash expires, unless it speaks again.
        interval = int(live_hash.get("interval") or settings.TERMINAL_HEARTBEAT_INTERVAL)
        due = float(live_hash.get("last_seen") or now) + presence.presence_ttl(interval) + 1
    values["presence_due_at"] = _dt(due)
    if live_hash:
        values.update(
            last_seen_at=_dt(live_hash.get("last_seen")),
            connected_at=_dt(live_hash.get("connected_at")),
            disconnected_at=_dt(live_hash.get("disconnected_at")),
            node=live_hash.get("node", "")[:100],
            firmware_version=live_hash.get("fw", "")[:32],
            link=live_hash.get("link", "")[:12],
            host_os=live_hash.get("host", "")[:12],
        )
        if live_hash.get("screens"):
            import json

            values["screens"] = json.loads(live_hash["screens"])
    return values


def presence_flush(*, now: float | None = None) -> int:
    """Write changed presence to the database; publish each presence change after commit.

    Returns the number of terminals whose presence state changed. Idempotent: running it twice
    writes the same values and announces nothing new.
    """
    started = time.time()
    now = now or started
    events_flush()
    client = presence.client()
    cursor = float(client.get(presence.CURSOR_KEY) or 0)
    # Re-read a couple of seconds before the cursor: a node's write may land just after it.
    changed = presence.changed_since(cursor - 2)
    due = Terminal.objects.filter(presence_due_at__lte=_dt(now)).values_list("pk", flat=True)
    ids = sorted(set(changed) | set(due[:_BATCH]))
    live_hashes = presence.read_many(ids)
    terminals = Terminal.objects.filter(pk__in=ids).only(
        "pk", "serial", "enterprise_id", "merchant_id", "store_id", *_FIELDS
    )
    updates, moved = [], []
    for terminal in terminals:
        live_hash = live_hashes.get(terminal.pk)
        verdict = presence.judge(live_hash, now=now)
        values = _live_values(live_hash, verdict, now)
        if verdict.presence != terminal.presence:
            values["presence_changed_at"] = _dt(now)
            moved.append((terminal, terminal.presence, verdict))
        if any(getattr(terminal, name) != value for name, value in values.items()):
            for name, value in values.items():
                setattr(terminal, name, value)
            updates.append(terminal)
    with transaction.atomic():
        Terminal.objects.bulk_update(updates, _FIELDS, batch_size=500)
        TerminalEvent.objects.bulk_create(
            TerminalEvent(
                terminal=terminal,
                enterprise_id=terminal.enterprise_id,
                kind="presence",
                at=_dt(now),
                data={"from": before, "to": v.presence, "reason": v.reason},
            )
            for terminal, before, v in moved
        )
        for terminal, _, verdict in moved:
            _announce(terminal, verdict)
    presence.forget([tid for tid in changed if tid not in live_hashes])
    client.set(presence.CURSOR_KEY, started)
    return len(moved)


def _announce(terminal: Terminal, verdict: presence.Verdict) -> None:
    live.publish_on_commit(
        live.group_names(
            store_id=terminal.store_id,
            merchant_id=terminal.merchant_id,
            enterprise_id=terminal.enterprise_id,
        ),
        {
            "type": "terminal.presence",
            "terminal_id": terminal.pk,
            "serial": terminal.serial,
            "presence": verdict.presence,
            "reason": verdict.reason,
            "last_seen_at": terminal.last_seen_at.isoformat() if terminal.last_seen_at else None,
            "node": terminal.node,
            "firmware_version": terminal.firmware_version,
        },
    )


def events_flush() -> int:
    """Move timeline events buffered in Redis by the nodes into the database."""
    total = 0
    while batch := presence.take_events(_BATCH):
        known = set(
            Terminal.objects.filter(pk__in={e["terminal_id"] for e in batch}).values_list(
                "pk", flat=True
            )
        )
        TerminalEvent.objects.bulk_create(
            TerminalEvent(
                terminal_id=e["terminal_id"],
                enterprise_id=e.get("enterprise_id"),
                kind=e["kind"][:32],
                at=_dt(e["at"]),
                data=e.get("data") or {},
            )
            for e in batch
            if e["terminal_id"] in known
        )
        total += len(batch)
        if len(batch) < _BATCH:
            break
    return total


def events_prune(*, days: int | None = None, batch: int = 10_000) -> int:
    """Delete timeline events older than the retention period, a bounded batch at a time."""
    days = days or settings.TERMINAL_EVENT_RETENTION_DAYS
    cutoff = timezone.now() - timedelta(days=days)
    deleted = 0
    while True:
        ids = list(TerminalEvent.objects.filter(at__lt=cutoff).values_list("pk", flat=True)[:batch])
        if not ids:
            return deleted
        deleted += TerminalEvent.objects.filter(pk__in=ids).delete()[0]

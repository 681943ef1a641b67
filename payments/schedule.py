"""When to query, reverse and close: the provider's schedules as pure functions (reference §5–6).

Every function takes times and counts and returns times; nothing here touches the database or
the provider, so hypothesis can walk the whole schedule. Constants are read from settings by the
callers (PAYMENTS_* in config/settings.py) and passed in as a `Schedule`.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Schedule:
    # Micropay (reference §5.4): first orderquery 5 s after the pay call, then every 5 s; at 45 s
    # the last query, and if it is not SUCCESS a reverse at once (never within 15 s of the call).
    micropay_first_query: float = 5.0
    micropay_query_interval: float = 5.0
    micropay_deadline: float = 45.0
    reverse_min_delay: float = 15.0
    reverse_backoff: tuple[float, ...] = (2, 4, 8, 15, 30, 30, 30, 30, 30, 30)
    # Native (reference §6): queries at +5, +15, +30, +60 s then every 30 s; close at expiry.
    native_queries: tuple[float, ...] = (5, 15, 30, 60)
    native_query_interval: float = 30.0
    native_expiry: float = 360.0
    native_min_close: float = 305.0  # closeorder is refused within 5 minutes of ordering
    # How long a customer-screen prompt waits for a scan before the payment is closed.
    scan_timeout: float = 120.0
    # Refunds: refundquery at +5, +15, +30, +60 s, then every 5 minutes (balance refunds ~20 min).
    refund_queries: tuple[float, ...] = (5, 15, 30, 60)
    refund_query_interval: float = 300.0
    refund_submit_backoff: tuple[float, ...] = (5, 10, 30, 60, 120, 300)
    # A bounced refund (CHANGE) waits for people: query it hourly until the provider settles it.
    refund_manual_query_interval: float = 3600.0


def seconds(value: float) -> timedelta:
    return timedelta(seconds=value)


def micropay_deadline(submitted_at: datetime, s: Schedule) -> datetime:
    return submitted_at + seconds(s.micropay_deadline)


def micropay_next_query(*, submitted_at: datetime, now: datetime, s: Schedule) -> datetime | None:
    """Return when to query next, or None when the deadline has come (reverse instead).

    Queries fall on the grid submitted_at + first + k·interval; the deadline itself is the last
    grid point, so a payment is always queried at (or after) its deadline before it is reversed.
    """
    deadline = micropay_deadline(submitted_at, s)
    if now >= deadline:
        return None
    first = submitted_at + seconds(s.micropay_first_query)
    if now < first:
        return first
    elapsed = (now - first).total_seconds()
    steps = int(elapsed // s.micropay_query_interval) + 1
    return min(first + seconds(steps * s.micropay_query_interval), deadline)


def reverse_at(*, submitted_at: datetime, now: datetime, s: Schedule) -> datetime:
    """The earliest moment a reverse may be sent: never within reverse_min_delay of the pay call."""
    return max(now, submitted_at + seconds(s.reverse_min_delay))


def reverse_retry_at(*, attempt: int, now: datetime, s: Schedule) -> datetime | None:
    """When to call reverse again after `attempt` calls (1-based); None once the tries run out."""
    if attempt > len(s.reverse_backoff):
        return None
    return now + seconds(s.reverse_backoff[attempt - 1])


def native_next_query(*, created_at: datetime, now: datetime, s: Schedule) -> datetime:
    """When to query a native order next; the expiry itself is the last query, then close."""
    expires = created_at + seconds(s.native_expiry)
    for offset in s.native_queries:
        at = created_at + seconds(offset)
        if at > now:
            return min(at, expires)
    last = created_at + seconds(s.native_queries[-1])
    steps = int((now - last).total_seconds() // s.native_query_interval) + 1
    return min(last + seconds(steps * s.native_query_interval), max(expires, now))


def native_close_at(*, created_at: datetime, now: datetime, s: Schedule) -> datetime:
    """When a closeorder is allowed: not within five minutes (and a margin) of ordering."""
    return max(now, created_at + seconds(s.native_min_close))


def refund_next_query(*, requested_at: datetime, now: datetime, s: Schedule) -> datetime:
    for offset in s.refund_queries:
        at = requested_at + seconds(offset)
        if at > now:
            return at
    return now + seconds(s.refund_query_interval)


def refund_resubmit_at(*, attempt: int, now: datetime, s: Schedule) -> datetime:
    """When to send a refund again (same out_refund_no) after a transient failure."""
    backoff = s.refund_submit_backoff
    return now + seconds(backoff[min(attempt, len(backoff)) - 1])

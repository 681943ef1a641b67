"""The provider's schedules as pure functions (reference §5.4 and §6)."""

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from payments.schedule import (
    Schedule,
    micropay_next_query,
    native_close_at,
    native_next_query,
    reverse_at,
    reverse_retry_at,
)
from payments.services.numbers import PROVIDER_NUMBER, new_out_refund_no, new_out_trade_no

S = Schedule()
T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
offsets = st.floats(min_value=0, max_value=600, allow_nan=False)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_micropay_is_first_queried_five_seconds_after_the_call():
    assert micropay_next_query(submitted_at=T0, now=T0, s=S) == at(5)


def test_micropay_is_queried_every_five_seconds_until_the_deadline():
    times, now = [], T0
    while (next_at := micropay_next_query(submitted_at=T0, now=now, s=S)) is not None:
        times.append((next_at - T0).total_seconds())
        now = next_at
    assert times == [5, 10, 15, 20, 25, 30, 35, 40, 45]


@given(offsets)
def test_a_micropay_query_is_always_later_and_never_past_the_deadline(offset):
    now = at(offset)
    next_at = micropay_next_query(submitted_at=T0, now=now, s=S)
    if offset >= S.micropay_deadline:
        assert next_at is None
    else:
        assert now < next_at <= at(S.micropay_deadline)


@given(offsets)
def test_a_reverse_is_never_sent_within_fifteen_seconds_of_the_call(offset):
    assert reverse_at(submitted_at=T0, now=at(offset), s=S) >= at(15)


def test_reverse_backs_off_then_gives_up():
    waits = [
        (reverse_retry_at(attempt=n, now=T0, s=S) - T0).total_seconds()
        for n in range(1, len(S.reverse_backoff) + 1)
    ]
    assert waits == sorted(waits) and waits[0] == 2
    assert reverse_retry_at(attempt=len(S.reverse_backoff) + 1, now=T0, s=S) is None


def test_native_orders_are_queried_on_the_reference_schedule():
    times, now = [], T0
    while now < at(S.native_expiry):
        now = native_next_query(created_at=T0, now=now, s=S)
        times.append((now - T0).total_seconds())
    assert times[:6] == [5, 15, 30, 60, 90, 120] and times[-1] == S.native_expiry


@given(offsets)
def test_a_native_order_is_never_closed_within_five_minutes(offset):
    assert native_close_at(created_at=T0, now=at(offset), s=S) >= at(300)


@given(st.datetimes(timezones=st.just(UTC)))
def test_order_numbers_are_provider_safe(now):
    for number in (new_out_trade_no(now), new_out_refund_no(now)):
        assert PROVIDER_NUMBER.match(number) and len(number) <= 32


def test_order_numbers_are_never_repeated():
    numbers = {new_out_trade_no(T0) for _ in range(10_000)}
    assert len(numbers) == 10_000

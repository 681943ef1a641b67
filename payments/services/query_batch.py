"""Micropay orderqueries in batches, on an event loop: the poller's common case at full speed.

While customers confirm on their phones, every paying micropay is queried every 5 s (reference
§5.4): 10,000 of them pending is 2,000 orderqueries a second. One Celery task per query spends
more on the task and the ORM than on the query (docs/performance.md, "Payments"). The dispatcher
instead sends the due micropay queries in batches (payments.tasks.payment_queries); a batch:

1. claims its rows in one statement, as follow_ups.claim does for one (the due time moves one
   lease ahead, so a crash mid-batch makes them due again);
2. queries the provider for all of them at once over the loop's keep-alive connections;
3. for the answers that change nothing but the schedule (USERPAYING, NOTPAY, ACCEPT on a paying
   micropay that is not being cancelled, before its deadline), writes the next query time of all
   of them in one statement, guarded by the follow-up each row was claimed for, and every call's
   GatewayCall row in another;
4. hands every other answer, one by one, to settle.query_answer_apply: the general path's decision
   table, under the row lock.
"""

import asyncio
import functools
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from channels.db import database_sync_to_async
from django.conf import settings
from django.utils import timezone

from config.loop_db import LoopDatabase, PerLoop
from config.model_sql import copy_sql, insert_shape
from payments.gateway.errors import GatewayError
from payments.gateway.recording import CallRecord, gateway_call_row
from payments.gateway.types import OrderQueryResult, TradeState
from payments.models import FollowUp, GatewayCall, Payment, PaymentKind, PaymentState
from payments.schedule import micropay_next_query
from payments.services import follow_ups, settle
from payments.services.payments import current_schedule
from payments.services.provider import gateway, sub_merchant

logger = logging.getLogger(__name__)

NOT_SETTLED = (TradeState.USERPAYING, TradeState.NOTPAY, TradeState.ACCEPT)
# Calls in flight per batch: enough to hide the round trip, few enough not to flood the provider.
CONCURRENCY = 64


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    due: datetime
    out_trade_no: str
    sub_mch_id: str
    amount_fen: int
    kind: str
    state: str
    submitted_at: datetime | None
    created_at: datetime
    cancel_requested_at: datetime | None


_databases = PerLoop(lambda: LoopDatabase(application_name="shouyin-follow-ups", size=2))


def _table() -> str:
    return Payment._meta.db_table


@functools.cache
def _claim_sql() -> str:
    columns = ", ".join(f"row.{name}" for name in Claimed.__dataclass_fields__ if name != "due")
    return f"""
        UPDATE {_table()} AS row SET next_check_at = %s, dispatched_at = NULL
        FROM (
            SELECT id, next_check_at AS due FROM {_table()}
            WHERE id = ANY(%s) AND follow_up = %s AND next_check_at <= %s
            ORDER BY id FOR UPDATE
        ) AS old
        WHERE row.id = old.id
        RETURNING old.due, {columns}
    """


@functools.cache
def _release_sql() -> str:
    return f"UPDATE {_table()} SET dispatched_at = NULL WHERE id = ANY(%s) AND follow_up <> ''"


@functools.cache
def _continue_sql() -> str:
    # The guard: still the query this batch claimed, on a paying micropay nobody is cancelling.
    return f"""
        UPDATE {_table()} AS row
        SET trade_state = next.trade_state, next_check_at = next.at, updated_at = %s
        FROM unnest(%s::bigint[], %s::varchar[], %s::timestamptz[]) AS next(id, trade_state, at)
        WHERE row.id = next.id AND row.follow_up = %s AND row.state = %s
          AND row.cancel_requested_at IS NULL
    """


async def query_batch(payment_ids: list[int]) -> int:
    """Query the due micropays among `payment_ids`; return how many were queried."""
    db = _databases.get()
    now = timezone.now()
    lease = now + timedelta(seconds=settings.PAYMENTS_FOLLOW_UP_LEASE)
    early = now + timedelta(seconds=0.2)
    rows = await db.fetchall(_claim_sql(), [lease, payment_ids, FollowUp.QUERY, early])
    claimed = [Claimed(**row) for row in rows]
    unclaimed = set(payment_ids) - {row.id for row in claimed}
    if unclaimed:
        # Due for something else now (a cancel made it a reverse): the next dispatch sends it.
        await db.execute(_release_sql(), [list(unclaimed)])
    if not claimed:
        return 0
    if settings.PAYMENTS_RECORD_LAG:
        await database_sync_to_async(follow_ups.record_lags)(
            Payment, [max(0.0, (now - row.due).total_seconds()) for row in claimed]
        )
    slots = asyncio.Semaphore(CONCURRENCY)

    async def query(row: Claimed) -> tuple[OrderQueryResult | GatewayError, CallRecord]:
        async with slots:
            return await gateway().order_query_on_loop(
                merchant=sub_merchant(row.sub_mch_id),
                out_trade_no=row.out_trade_no,
                expected_total_fee=row.amount_fen,
            )

    results = await asyncio.gather(*(query(row) for row in claimed), return_exceptions=True)
    answered = timezone.now()
    schedule = current_schedule()
    continuing: list[tuple[int, str, datetime]] = []
    settling: list[tuple[int, OrderQueryResult | GatewayError]] = []
    records: list[CallRecord] = []
    for row, result in zip(claimed, results, strict=True):
        if isinstance(result, BaseException):
            # A bug, not a provider answer: the row is due again when its lease runs out.
            logger.error("payment %s: orderquery failed", row.id, exc_info=result)
            continue
        answer, record = result
        records.append(record)
        at = _next_query(row, answer, answered, schedule)
        if at is None:
            settling.append((row.id, answer))
        else:
            continuing.append((row.id, answer.trade_state, at))
    # What settles a payment first; the schedule and the call records after.
    for payment_id, answer in settling:
        await database_sync_to_async(settle.query_answer_apply)(payment_id, answer)
    if continuing:
        ids, states, times = (list(column) for column in zip(*continuing, strict=True))
        await db.execute(
            _continue_sql(),
            [answered, ids, states, times, FollowUp.QUERY, PaymentState.PAYING],
        )
    try:
        shape = insert_shape(GatewayCall)
        rows = [shape.params(gateway_call_row(record)) for record in records]
        await db.copy_rows(copy_sql(GatewayCall), rows)
    except Exception:
        # As record_to_database: losing the records must not undo what the answers settled.
        logger.exception("could not store the GatewayCall rows of %d orderqueries", len(records))
    return len(claimed)


def _next_query(row: Claimed, answer, now: datetime, schedule) -> datetime | None:
    """When to query again if the answer changes nothing else; None for the general path."""
    if not isinstance(answer, OrderQueryResult) or answer.trade_state not in NOT_SETTLED:
        return None
    if row.kind != PaymentKind.MICROPAY or row.state != PaymentState.PAYING:
        return None
    if row.cancel_requested_at is not None:
        return None
    return micropay_next_query(submitted_at=row.submitted_at or row.created_at, now=now, s=schedule)

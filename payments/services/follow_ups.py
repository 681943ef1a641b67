"""Durable follow-ups: the row says what is due and when; tasks and the dispatcher act on it.

Every payment or refund that still owes the provider a call carries `follow_up` and
`next_check_at`. Two paths reach it:

- the fast path: a task sent after commit with a countdown to the due time
  (PAYMENTS_FOLLOW_UP_MODE="countdown"), and
- the dispatcher (`due_dispatch`, run by beat), which claims due rows with
  `SELECT … FOR UPDATE SKIP LOCKED` on the partial due-time index and sends their tasks. In
  "poller" mode it is the only path; in "countdown" mode it only picks up rows overdue by more
  than PAYMENTS_SWEEP_GRACE seconds, i.e. whose chain was lost (a worker crashed, a task was
  dropped).

A task acts only after claiming the row with a conditional UPDATE that moves `next_check_at` one
lease ahead, so two deliveries of the same task, or a task and the dispatcher, never both act; a
worker that dies mid-action leaves a row that is due again when its lease runs out.
"""

import json
import logging
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from payments.models import Payment, Refund

logger = logging.getLogger(__name__)

LAG_KEY = "shouyin:payments:lag"


def _mode() -> str:
    return settings.PAYMENTS_FOLLOW_UP_MODE


def schedule_on_commit(row: Payment | Refund) -> None:
    """Send the row's follow-up task for its due time, after commit (countdown mode only)."""
    if _mode() != "countdown" or not row.follow_up or row.next_check_at is None:
        return
    from payments import tasks

    task = tasks.payment_follow_up if isinstance(row, Payment) else tasks.refund_follow_up
    pk, due = row.pk, row.next_check_at

    def send() -> None:
        delay = max(0.0, (due - timezone.now()).total_seconds())
        task.apply_async((pk,), countdown=delay, queue=settings.PAYMENTS_TASK_QUEUE)

    transaction.on_commit(send)


def claim(model: type[Payment] | type[Refund], pk: int) -> float | None:
    """Claim a due row for one action; return how late it was (seconds), or None if not due.

    The row's due time moves one lease ahead: a crash mid-action makes it due again then.
    """
    table = model._meta.db_table
    now = timezone.now()
    lease = now + timedelta(seconds=settings.PAYMENTS_FOLLOW_UP_LEASE)
    # A countdown task may arrive a hair early; that is not worth another round trip.
    early = now + timedelta(seconds=0.2)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {table} AS row SET next_check_at = %s, dispatched_at = NULL
            FROM (SELECT id, next_check_at AS due FROM {table} WHERE id = %s FOR UPDATE) AS old
            WHERE row.id = old.id AND row.follow_up <> '' AND old.due <= %s
            RETURNING old.due
            """,  # noqa: S608 - the table name is the model's own
            [lease, pk, early],
        )
        found = cursor.fetchone()
    if found is None:
        return None
    lag = max(0.0, (now - found[0]).total_seconds())
    if settings.PAYMENTS_RECORD_LAG:
        record_lags(model, [lag])
    return lag


def record_lags(model, lags: list[float]) -> None:
    """For the lag benchmark (PAYMENTS_RECORD_LAG): how late each follow-up started, in ms."""
    from terminals.presence import client

    client().rpush(LAG_KEY, *(json.dumps([model.__name__, round(lag * 1000, 1)]) for lag in lags))


def due_dispatch(*, limit: int | None = None, grace: float | None = None) -> int:
    """Send the follow-up task of every row due (by more than `grace` s); return how many.

    Rows are claimed in bounded batches with SKIP LOCKED, so several dispatchers never send the
    same row twice; a sent row is not sent again for one lease even if its task is still queued.
    """
    from payments import tasks

    limit = limit or settings.PAYMENTS_DISPATCH_BATCH
    if grace is None:
        grace = settings.PAYMENTS_SWEEP_GRACE if _mode() == "countdown" else 0.0
    sent = 0
    queries: list[int] = []
    for model, task in ((Payment, tasks.payment_follow_up), (Refund, tasks.refund_follow_up)):
        for pk, batched in _claim_due(model, limit=limit, grace=grace):
            if batched:
                queries.append(pk)
            else:
                task.apply_async((pk,), queue=settings.PAYMENTS_TASK_QUEUE)
            sent += 1
    size = settings.PAYMENTS_QUERY_BATCH
    for start in range(0, len(queries), size):
        tasks.payment_queries.apply_async(
            (queries[start : start + size],), queue=settings.PAYMENTS_TASK_QUEUE
        )
    return sent


def _batched(model) -> str:
    """SQL: whether a claimed row's follow-up goes in a batch (payments.services.query_batch):
    micropay queries, in poller mode (countdown mode sends a task per row for its due time)."""
    if model is not Payment or _mode() != "poller":
        return "false"
    return "follow_up = 'query' AND kind = 'micropay'"


def _claim_due(model, *, limit: int, grace: float) -> list[tuple[int, bool]]:
    table = model._meta.db_table
    now = timezone.now()
    due_before = now - timedelta(seconds=grace)
    resend_before = now - timedelta(seconds=settings.PAYMENTS_FOLLOW_UP_LEASE)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {table} SET dispatched_at = %s
            WHERE id IN (
                SELECT id FROM {table}
                WHERE follow_up <> '' AND next_check_at <= %s
                  AND (dispatched_at IS NULL OR dispatched_at < %s)
                ORDER BY next_check_at
                LIMIT %s
                FOR UPDATE SKIP LOCKED
            )
            RETURNING id, {_batched(model)}
            """,  # noqa: S608 - the table name is the model's own
            [now, due_before, resend_before, limit],
        )
        ids = [(row[0], row[1]) for row in cursor.fetchall()]
    if ids:
        logger.info("dispatching %d due %s follow-ups", len(ids), model.__name__.lower())
    return ids

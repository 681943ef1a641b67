"""Celery tasks of the payments app: ids only, idempotent, named; the services do the work.

acks_late is safe for all of them: each action claims its row with a conditional UPDATE before it
calls the provider, so a redelivered or duplicated task finds nothing to claim.
"""

from celery import shared_task

from payments.services import follow_ups, idempotency, refunds, settle

FOLLOW_UP_LIMITS = {"soft_time_limit": 30, "time_limit": 45}


@shared_task(name="payments.payment_follow_up", acks_late=True, ignore_result=True,
             **FOLLOW_UP_LIMITS)  # fmt: skip
def payment_follow_up(payment_id: int) -> None:
    """Query, reverse, close or expire one payment, if its follow-up is due."""
    settle.payment_follow_up(payment_id=payment_id)


@shared_task(name="payments.payment_queries", acks_late=True, ignore_result=True,
             **FOLLOW_UP_LIMITS)  # fmt: skip
def payment_queries(payment_ids: list[int]) -> None:
    """Query a batch of due micropays (the poller's common case), on the process's event loop."""
    from config import loop_thread
    from payments.services.query_batch import query_batch

    loop_thread.run(query_batch(payment_ids), timeout=FOLLOW_UP_LIMITS["soft_time_limit"] - 5)


@shared_task(name="payments.refund_follow_up", acks_late=True, ignore_result=True,
             **FOLLOW_UP_LIMITS)  # fmt: skip
def refund_follow_up(refund_id: int) -> None:
    """Send or query one refund, if its follow-up is due."""
    refunds.refund_follow_up(refund_id=refund_id)


@shared_task(name="payments.due_dispatch", acks_late=True, ignore_result=True,
             soft_time_limit=20, time_limit=30)  # fmt: skip
def due_dispatch() -> int:
    """Send the tasks of due follow-ups (the poller; in countdown mode, the crash sweep)."""
    return follow_ups.due_dispatch()


@shared_task(name="payments.idempotency_keys_purge", ignore_result=True,
             soft_time_limit=60, time_limit=90)  # fmt: skip
def idempotency_keys_purge() -> int:
    """Delete expired Idempotency-Keys."""
    return idempotency.idempotency_keys_purge()

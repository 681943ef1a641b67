"""Beat and on-demand tasks of the terminals app: thin wrappers over services, ids only."""

from celery import shared_task


@shared_task(name="terminals.presence_flush", ignore_result=True, soft_time_limit=30, time_limit=45)
def presence_flush_task() -> int:
    """Copy changed live presence to the database and announce presence changes (idempotent)."""
    from terminals.services.presence import presence_flush

    return presence_flush()


@shared_task(
    name="terminals.commands_expire", ignore_result=True, soft_time_limit=30, time_limit=45
)
def commands_expire_task() -> int:
    from terminals.services.commands import commands_expire

    return commands_expire()


@shared_task(
    name="terminals.events_retention", ignore_result=True, soft_time_limit=300, time_limit=360
)
def events_retention_task() -> int:
    from terminals.services.presence import events_prune

    return events_prune()


@shared_task(
    name="terminals.import_batch",
    ignore_result=True,
    acks_late=True,
    soft_time_limit=600,
    time_limit=660,
)
def import_batch_task(batch_id: int) -> None:
    """Import an uploaded registration batch; a second run of a finished batch does nothing."""
    from terminals.services.registration import batch_import

    batch_import(batch_id=batch_id)

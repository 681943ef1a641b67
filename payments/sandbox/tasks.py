"""Celery tasks of the sandbox: notification delivery and its recovery sweep (ids only)."""

from celery import shared_task

from payments.sandbox import notifications


@shared_task(
    name="sandbox.deliver_notification",
    acks_late=True,
    ignore_result=True,
    soft_time_limit=20,
    time_limit=30,
)
def deliver_notification(notification_id: int) -> None:
    # acks_late is safe: deliver() claims the due attempt with a conditional UPDATE, so a
    # redelivered task finds nothing due and posts nothing.
    delay = notifications.deliver(notification_id)
    if delay is not None:
        deliver_notification.apply_async((notification_id,), countdown=delay)


@shared_task(
    name="sandbox.sweep_notifications", ignore_result=True, soft_time_limit=50, time_limit=60
)
def sweep_notifications() -> None:
    """Resume notifications whose retry task was lost (a worker died): beat, every 30 s."""
    for notification_id in notifications.due_notifications():
        deliver_notification.delay(notification_id)

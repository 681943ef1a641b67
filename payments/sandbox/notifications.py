"""Payment notifications the sandbox sends for native orders, with retries on a bad ack."""

import hashlib
import logging
from datetime import timedelta

import httpx
from django.db import transaction
from django.utils import timezone

from payments.gateway.wechatpay import xmlcodec
from payments.gateway.wechatpay.notifications import is_ack
from payments.gateway.wechatpay.signing import SignType, sign
from payments.sandbox import account as config
from payments.sandbox.models import NotificationStatus, SandboxNotification, SandboxOrder
from payments.sandbox.orders import _paid_fields

logger = logging.getLogger("payments.sandbox")
# The provider counts an acknowledgement later than 5 s as a failure.
ACK_TIMEOUT = httpx.Timeout(5.0, connect=2.0)


def notification_body(notification: SandboxNotification) -> bytes:
    """The signed notification; the same body on every attempt, like the provider's retries."""
    order: SandboxOrder = notification.order
    sandbox = config.account()
    fields = {
        "return_code": "SUCCESS",
        "return_msg": "OK",
        "appid": order.appid,
        "mch_id": order.mch_id,
        "sub_mch_id": order.sub_mch_id,
        "sub_appid": order.sub_appid,
        "device_info": order.device_info,
        "nonce_str": hashlib.sha256(f"notify:{notification.pk}".encode()).hexdigest()[:32],
        "result_code": "SUCCESS",
        **_paid_fields(order),
    }
    fields = {k: v for k, v in fields.items() if v}
    # Signed with the order's algorithm and, like most real ones, without a sign_type field.
    fields["sign"] = sign(fields, sandbox.api_key, SignType(order.sign_type))
    return xmlcodec.encode(fields)


def _post(url: str, body: bytes) -> tuple[bool, str]:
    try:
        response = httpx.post(
            url, content=body, headers={"Content-Type": "text/xml"}, timeout=ACK_TIMEOUT
        )
    except httpx.HTTPError as exc:
        return False, f"transport: {exc!r}"[:200]
    acked = response.status_code == 200 and is_ack(response.content)
    return acked, f"HTTP {response.status_code}: {response.text[:150]}"


def deliver(notification_id: int) -> float | None:
    """Make one delivery attempt if one is due; return the delay before the next, if any.

    Locks the notification row (skipping it if another worker holds it), so two workers never
    deliver the same attempt; a delivered or abandoned notification is left alone.
    """
    with transaction.atomic():
        notification = (
            SandboxNotification.objects.select_for_update(skip_locked=True)
            .select_related("order")
            .filter(pk=notification_id, status=NotificationStatus.PENDING)
            .first()
        )
        if notification is None:
            return None
        acked, response = _post(notification.order.notify_url, notification_body(notification))
        notification.attempts += 1
        notification.last_response = response
        delays = config.notify_retry_delays()
        if acked:
            notification.status = NotificationStatus.DELIVERED
            notification.delivered_at = timezone.now()
            delay = None
        elif notification.attempts > len(delays):
            notification.status = NotificationStatus.FAILED
            delay = None
        else:
            delay = delays[notification.attempts - 1]
            notification.next_attempt_at = timezone.now() + timedelta(seconds=delay)
        notification.save()
    logger.info(
        "sandbox notification %s attempt %s: %s", notification_id, notification.attempts, response
    )
    return delay


def due_notifications(limit: int = 100) -> list[int]:
    """Pending notifications whose next attempt is overdue (their task was lost)."""
    overdue = timezone.now() - timedelta(seconds=5)
    return list(
        SandboxNotification.objects.filter(
            status=NotificationStatus.PENDING, next_attempt_at__lte=overdue
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )

"""Payment notifications the sandbox sends for native orders, with retries on a bad ack."""

import hashlib
import logging
from datetime import timedelta

import httpx
from django.db.models import F
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
# A claimed attempt is due again after this (a worker died mid-POST): longer than any POST.
CLAIM_LEASE = timedelta(seconds=30)


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

    The attempt is claimed first (`_claim`: one conditional UPDATE, committed before the POST),
    so two workers, or a retry task and the sweep, never post the same attempt twice; no row lock
    is held while the receiver answers. A delivered or abandoned notification is left alone.
    """
    notification = _claim(notification_id)
    if notification is None:
        return None
    acked, response = _post(notification.order.notify_url, notification_body(notification))
    delays = config.notify_retry_delays()
    fields = {"last_response": response}
    delay = None
    if acked:
        fields.update(status=NotificationStatus.DELIVERED, delivered_at=timezone.now())
    elif notification.attempts > len(delays):
        fields["status"] = NotificationStatus.FAILED
    else:
        delay = delays[notification.attempts - 1]
        fields["next_attempt_at"] = timezone.now() + timedelta(seconds=delay)
    # Only this attempt's claim may record its outcome.
    SandboxNotification.objects.filter(
        pk=notification_id, status=NotificationStatus.PENDING, attempts=notification.attempts
    ).update(**fields)
    logger.info(
        "sandbox notification %s attempt %s: %s", notification_id, notification.attempts, response
    )
    return delay


def _claim(notification_id: int) -> SandboxNotification | None:
    """Claim the due attempt: count it and push its due time one lease ahead, in one UPDATE.

    Only the caller whose UPDATE matched posts. A worker that dies after its claim leaves the
    notification due again once the lease (longer than any POST may take) has run out.
    """
    now = timezone.now()
    # A countdown task may arrive a hair early; that is not worth a lost attempt.
    early = now + timedelta(seconds=0.2)
    claimed = SandboxNotification.objects.filter(
        pk=notification_id, status=NotificationStatus.PENDING, next_attempt_at__lte=early
    ).update(attempts=F("attempts") + 1, next_attempt_at=now + CLAIM_LEASE)
    if not claimed:
        return None
    return SandboxNotification.objects.select_related("order").get(pk=notification_id)


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

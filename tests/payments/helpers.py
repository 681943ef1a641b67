"""Payments test helpers: merchants that can take payments, online terminals, the sandbox."""

import secrets
import time
from contextlib import contextmanager
from datetime import timedelta

from django.test import override_settings
from django.utils import timezone

from payments.models import Payment
from terminals import presence
from tests.terminals.factories import active

# Test payment codes (docs/sandbox.md).
PAID = "134500000000000001"
USERPAYING_THEN_PAID = "134500000000000002"
USERPAYING_FOREVER = "134500000000000003"
NOTENOUGH = "134500000000000004"
AUTHCODEEXPIRE = "134500000000000005"
SYSTEMERROR_BUT_PAID = "134500000000000006"
NO_ANSWER = "134500000000000007"
INVALID_PREFIX = "999999999999999999"


def fresh_code() -> str:
    """A valid payment code never used before (real-format codes are single-use)."""
    return "14" + "".join(secrets.choice("0123456789") for _ in range(16))


INVALID = INVALID_PREFIX


def ready_merchant(tenant, tag: str) -> None:
    """Finish the tenant's merchant onboarding with a sub_mch_id of its own.

    The sandbox accepts any sub_mch_id (SANDBOX_WECHATPAY_STRICT_SUB_MCH is off in tests); a
    fresh one per test cannot collide with rows another process left in the test database.
    """
    sub_mch_id = f"{'191' if tag == 'b' else '190'}{secrets.randbelow(10**7):07d}"
    type(tenant.merchant).objects.filter(pk=tenant.merchant.pk).update(
        onboarding_state="finished", sub_mch_id=sub_mch_id
    )
    tenant.merchant.refresh_from_db()


def mark_online(terminal) -> None:
    """Write the live presence a connected device would have (terminals.presence)."""
    presence.client().hset(
        presence.presence_key(terminal.pk),
        mapping={"connected": "1", "last_seen": str(time.time()), "interval": "300"},
    )


def online_terminal(tenant):
    terminal, _secret = active(tenant)
    mark_online(terminal)
    return terminal


def make_due(payment_or_refund, follow_up: str | None = None) -> None:
    """Make the row's follow-up due now: stands in for waiting until its scheduled time."""
    values = {"next_check_at": timezone.now() - timedelta(milliseconds=1)}
    if follow_up is not None:
        values["follow_up"] = follow_up
    type(payment_or_refund).objects.filter(pk=payment_or_refund.pk).update(**values)


def age(payment: Payment, seconds: float) -> None:
    """Move a payment's clock back: it was submitted (and created) `seconds` earlier."""
    shift = timedelta(seconds=seconds)
    row = Payment.objects.get(pk=payment.pk)
    Payment.objects.filter(pk=payment.pk).update(
        created_at=row.created_at - shift,
        submitted_at=row.submitted_at - shift if row.submitted_at else None,
        deadline_at=row.deadline_at - shift if row.deadline_at else None,
        expires_at=row.expires_at - shift if row.expires_at else None,
    )


@contextmanager
def sandbox(base_url: str):
    """Point the platform's gateway at the sandbox served by a real ASGI server."""
    with override_settings(WECHATPAY_BASE_URL=f"{base_url}/sandbox/wechatpay",
                           PAYMENTS_NOTIFY_URL=f"{base_url}/payments/wechatpay/notify"):  # fmt: skip
        yield


def succeeded_soon(payment: Payment) -> None:
    """The task the dispatcher sent ran here, or in a session worker that took it from the queue
    first (then this run found nothing to claim): either way the payment settles."""

    def succeeded() -> bool:
        payment.refresh_from_db()
        return payment.state == "succeeded"

    from tests.conftest import wait_until

    wait_until(succeeded, timeout=15, what="the payment to succeed")

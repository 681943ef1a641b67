"""The provider's payment notifications (native orders): verify, cross-check, apply once, ack.

The signature is verified by the gateway; then the order named must exist, belong to the
sub-merchant named, and have the amount notified. A notification that fails any check is
rejected with a FAIL ack and a security log line, and changes nothing. A verified one is stored
once per (payment, transaction id): a replay finds the row and only acknowledges again; the
state machine refuses a second transition anyway. A notification for a payment failed, closed or
reversed here means the customer paid after all: it succeeds and is refunded in full, once.
"""

import logging
from dataclasses import dataclass

from django.db import IntegrityError, transaction

from payments.gateway.errors import GatewayError
from payments.models import Payment, PaymentState, ProviderNotification
from payments.services.payments import payment_succeed, system
from payments.services.provider import gateway
from payments.statemachine import payment_machine

logger = logging.getLogger("payments.notifications")
security = logging.getLogger("security")


@dataclass(frozen=True)
class Ack:
    status: int
    body: bytes


def _reject(reason: str, status: int = 400) -> Ack:
    security.warning("payment notification rejected: %s", reason)
    return Ack(status, gateway().notification_ack(ok=False, message=reason[:64]))


def notification_receive(body: bytes) -> Ack:
    """Handle one notification body; return the XML acknowledgement to send back."""
    try:
        note = gateway().parse_notification(body)
    except GatewayError as exc:
        return _reject(f"{type(exc).__name__}: {exc}")
    if not note.ok:
        # Only successful payments are notified; anything else is acknowledged and ignored.
        return Ack(200, gateway().notification_ack(ok=True))
    with transaction.atomic():
        payment = (
            Payment.objects.select_for_update()
            .select_related("merchant")
            .filter(out_trade_no=note.out_trade_no)
            .first()
        )
        if payment is None:
            return _reject(f"unknown out_trade_no {note.out_trade_no}")
        if note.sub_mch_id != payment.sub_mch_id:
            return _reject(f"payment {payment.pk}: sub_mch_id {note.sub_mch_id} is not its own")
        if note.total_fee != payment.amount_fen:
            return _reject(f"payment {payment.pk}: notified {note.total_fee} fen, "
                           f"ordered {payment.amount_fen}")  # fmt: skip
        try:
            with transaction.atomic():
                ProviderNotification.objects.create(
                    payment=payment, transaction_id=note.transaction_id, total_fee=note.total_fee
                )
        except IntegrityError:
            logger.info("payment %s: duplicate notification acknowledged", payment.pk)
            return Ack(200, gateway().notification_ack(ok=True))
        if payment.state == PaymentState.SUCCEEDED:
            return Ack(200, gateway().notification_ack(ok=True))
        if not (
            payment_machine.can(payment, "succeed")
            or payment_machine.can(payment, "succeed_after_close")
        ):
            logger.error("payment %s notified paid while %s: reconcile", payment.pk, payment.state)
        else:
            # A payment closed here is refunded in full by payment_succeed (paid after close).
            payment_succeed(payment, transaction_id=note.transaction_id,
                            actor=system("payment notification"),
                            reason="signed payment notification", paid_at=note.time_end)  # fmt: skip
            ProviderNotification.objects.filter(
                payment=payment, transaction_id=note.transaction_id
            ).update(applied=True)
    return Ack(200, gateway().notification_ack(ok=True))

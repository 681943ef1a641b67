"""Follow-ups of a payment: query, reverse, close, expire an unanswered prompt.

Each action claims the row first (payments.services.follow_ups.claim), calls the provider outside
any transaction, then applies the answer under the row lock, re-checking that the follow-up is
still the one it was claimed for (a notification or a cancel may have changed it meanwhile).
"""

import logging
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from payments.gateway.errors import GatewayError
from payments.gateway.types import OrderQueryResult, TradeState
from payments.models import FollowUp, Payment, PaymentKind, PaymentState
from payments.schedule import (
    micropay_next_query,
    native_close_at,
    native_next_query,
    reverse_at,
    reverse_retry_at,
)
from payments.services import follow_ups
from payments.services.payments import (
    current_schedule,
    payment_end,
    payment_fail,
    payment_succeed,
    system,
)
from payments.services.provider import gateway, sub_merchant

logger = logging.getLogger(__name__)

P = PaymentState
OPEN = (P.CREATED, P.AWAITING_SCAN, P.PAYING)


def payment_follow_up(*, payment_id: int) -> str | None:
    """Do the payment's due follow-up if this caller claims it; return the action done, or None."""
    if follow_ups.claim(Payment, payment_id) is None:
        return None
    payment = Payment.objects.filter(pk=payment_id).first()
    if payment is None:
        logger.info("payment %s is gone; nothing to follow up", payment_id)
        return None
    action = payment.follow_up
    handlers = {
        FollowUp.EXPIRE_PROMPT: _expire_prompt,
        FollowUp.QUERY: _query,
        FollowUp.REVERSE: _reverse,
        FollowUp.CLOSE: _close,
    }
    handlers[action](payment)
    return action


def _locked(payment_id: int, follow_up: str) -> Payment | None:
    """Lock the row; None if its follow-up changed since the claim (someone else settled it)."""
    payment = Payment.objects.select_for_update().select_related("merchant").get(pk=payment_id)
    return payment if payment.follow_up == follow_up else None


def _reschedule(payment: Payment, follow_up: str, at: datetime | None, **fields) -> None:
    Payment.objects.filter(pk=payment.pk).update(
        follow_up=follow_up if at else FollowUp.NONE, next_check_at=at,
        dispatched_at=None, updated_at=timezone.now(), **fields,
    )  # fmt: skip
    payment.follow_up, payment.next_check_at = (follow_up if at else FollowUp.NONE), at
    for name, value in fields.items():
        setattr(payment, name, value)
    follow_ups.schedule_on_commit(payment)


def _expire_prompt(payment: Payment) -> None:
    with transaction.atomic():
        payment = _locked(payment.pk, FollowUp.EXPIRE_PROMPT)
        if payment is None:
            return
        if payment.state in (P.CREATED, P.AWAITING_SCAN):
            payment_end(payment, action="close", actor=system("prompt expired"),
                        reason="no payment code was scanned in time", err_code="SCAN_TIMEOUT",
                        err_message="No payment code scanned")  # fmt: skip
        else:
            _reschedule(payment, FollowUp.NONE, None)


# --- orderquery ---------------------------------------------------------------------------------


def _query(payment: Payment) -> None:
    try:
        answer: OrderQueryResult | GatewayError = gateway().order_query(
            merchant=sub_merchant(payment.sub_mch_id),
            out_trade_no=payment.out_trade_no,
            expected_total_fee=payment.amount_fen,
        )
    except GatewayError as exc:
        answer = exc
    query_answer_apply(payment.pk, answer)


def query_answer_apply(payment_id: int, answer: "OrderQueryResult | GatewayError") -> None:
    """Apply an orderquery answer to a payment whose query this caller claimed, under its lock;
    nothing if its follow-up changed meanwhile (a notification or a cancel settled it)."""
    with transaction.atomic():
        locked = _locked(payment_id, FollowUp.QUERY)
        if locked is not None:
            query_apply(locked, answer)


def query_apply(payment: Payment, answer: "OrderQueryResult | GatewayError") -> None:
    """Apply an orderquery answer (reference §5.3, "while polling"). Inside a transaction."""
    actor = system("orderquery")
    if isinstance(answer, GatewayError) or answer.trade_state is None:
        err = type(answer).__name__ if isinstance(answer, GatewayError) else answer.err_code
        if (
            not isinstance(answer, GatewayError)
            and answer.order_missing
            and payment.err_code == "RETURN_FAIL"
            and payment.state == P.PAYING
        ):
            # micropay was refused at the protocol level and no order exists: nothing happened.
            payment_fail(payment, err_code="RETURN_FAIL", message=payment.err_message,
                         actor=actor)  # fmt: skip
            return
        logger.info("payment %s: orderquery without a state (%s); keep polling", payment.pk, err)
        _continue(payment)
        return
    state = answer.trade_state
    Payment.objects.filter(pk=payment.pk).update(trade_state=state)
    payment.trade_state = state
    if state in (TradeState.SUCCESS, TradeState.REFUND):
        payment_succeed(payment, transaction_id=answer.transaction_id, actor=actor,
                        reason=f"orderquery answered {state}", paid_at=answer.time_end,
                        trade_state=state)  # fmt: skip
    elif state == TradeState.PAYERROR:
        s = current_schedule()
        at = reverse_at(submitted_at=payment.submitted_at or timezone.now(),
                        now=timezone.now(), s=s)  # fmt: skip
        if payment.state in OPEN:
            payment_fail(payment, err_code="PAYERROR", message=answer.trade_state_desc,
                         actor=actor, follow_up=FollowUp.REVERSE, at=at)  # fmt: skip
        else:
            _reschedule(payment, FollowUp.REVERSE, at)
    elif state == TradeState.REVOKED:
        if payment.state == P.PAYING:
            payment_end(payment, action="reverse", actor=actor, reason="provider: REVOKED")
        elif payment.state in OPEN:
            payment_end(payment, action="close", actor=actor, reason="provider: REVOKED")
        else:
            _reschedule(payment, FollowUp.NONE, None)
    elif state == TradeState.CLOSED:
        if payment.state in OPEN:
            payment_end(payment, action="close", actor=actor, reason="provider: CLOSED")
        else:
            _reschedule(payment, FollowUp.NONE, None)
    else:  # USERPAYING, NOTPAY, ACCEPT: not settled yet
        _continue(payment)


def _continue(payment: Payment) -> None:
    """Schedule the next query, or — past the deadline — the reverse or close."""
    s = current_schedule()
    now = timezone.now()
    if payment.kind == PaymentKind.NATIVE:
        if payment.expires_at is None or now >= payment.expires_at or payment.cancel_requested_at:
            _reschedule(payment, FollowUp.CLOSE,
                        native_close_at(created_at=payment.created_at, now=now, s=s))  # fmt: skip
        else:
            _reschedule(payment, FollowUp.QUERY,
                        native_next_query(created_at=payment.created_at, now=now, s=s))  # fmt: skip
        return
    submitted = payment.submitted_at or payment.created_at
    at = micropay_next_query(submitted_at=submitted, now=now, s=s)
    if at is None or payment.cancel_requested_at or payment.state != P.PAYING:
        # The last query did not find it paid: reverse at once (never within 15 s of the call).
        _reschedule(payment, FollowUp.REVERSE, reverse_at(submitted_at=submitted, now=now, s=s),
                    follow_up_attempts=0)  # fmt: skip
    else:
        _reschedule(payment, FollowUp.QUERY, at)


# --- reverse ------------------------------------------------------------------------------------


def _reverse(payment: Payment) -> None:
    try:
        answer = gateway().reverse(
            merchant=sub_merchant(payment.sub_mch_id), out_trade_no=payment.out_trade_no
        )
    except GatewayError as exc:
        answer = exc
    with transaction.atomic():
        locked = _locked(payment.pk, FollowUp.REVERSE)
        if locked is not None:
            reverse_apply(locked, answer)


def reverse_apply(payment: Payment, answer) -> None:
    """Apply a reverse answer: done, call again (recall=Y, errors, backoff), or give up."""
    actor = system("reverse")
    attempt = payment.follow_up_attempts + 1
    if isinstance(answer, GatewayError) or answer.recall or not answer.ok:
        err = type(answer).__name__ if isinstance(answer, GatewayError) else answer.err_code
        if not isinstance(answer, GatewayError) and answer.err_code == "REVERSE_EXPIRE":
            logger.error("payment %s: too old to reverse; refund it if it was paid", payment.pk)
            _reschedule(payment, FollowUp.NONE, None, err_code="REVERSE_EXPIRE")
            return
        at = reverse_retry_at(attempt=attempt, now=timezone.now(), s=current_schedule())
        if at is None:
            logger.error("payment %s: reverse still not done after %d calls (%s); reconcile",
                         payment.pk, attempt, err or "recall")  # fmt: skip
        _reschedule(payment, FollowUp.REVERSE, at, follow_up_attempts=attempt)
        return
    if payment.state == P.PAYING:
        payment_end(payment, action="reverse", actor=actor, reason="reversed at the provider",
                    trade_state="REVOKED")  # fmt: skip
    else:
        # A declined or failed payment: the loop is closed at the provider; the state stays.
        _reschedule(payment, FollowUp.NONE, None, trade_state="REVOKED")


# --- closeorder (native) ------------------------------------------------------------------------


def _close(payment: Payment) -> None:
    try:
        answer = gateway().close_order(
            merchant=sub_merchant(payment.sub_mch_id), out_trade_no=payment.out_trade_no
        )
    except GatewayError as exc:
        answer = exc
    with transaction.atomic():
        locked = _locked(payment.pk, FollowUp.CLOSE)
        if locked is not None:
            close_apply(locked, answer)


def close_apply(payment: Payment, answer) -> None:
    actor = system("closeorder")
    attempt = payment.follow_up_attempts + 1
    now = timezone.now()
    err = type(answer).__name__ if isinstance(answer, GatewayError) else answer.err_code
    if isinstance(answer, GatewayError) or err == "SYSTEMERROR":
        at = reverse_retry_at(attempt=attempt, now=now, s=current_schedule())
        _reschedule(payment, FollowUp.CLOSE, at, follow_up_attempts=attempt)
    elif err == "ORDERPAID":
        # The customer paid just before the close: learn the transaction id, then succeed.
        _reschedule(payment, FollowUp.QUERY, now, follow_up_attempts=0)
    elif answer.ok or err in ("ORDERCLOSED", "ORDERNOTEXIST"):
        if payment.state in OPEN:
            payment_end(payment, action="close", actor=actor, reason="order closed",
                        trade_state="CLOSED", err_code=payment.err_code or "EXPIRED")  # fmt: skip
        else:
            _reschedule(payment, FollowUp.NONE, None, trade_state="CLOSED")
    else:
        logger.error("payment %s: closeorder answered %s; reconcile", payment.pk, err)
        _reschedule(payment, FollowUp.NONE, None)

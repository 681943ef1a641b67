"""Refunds: partial or full, never more than was paid, followed until the provider settles them.

The amount is reserved on the payment (`refund_reserved_fen`, checked against `amount_fen` by a
database constraint) in the transaction that creates the refund, under the payment's row lock,
so two concurrent refunds can never together exceed the payment. A refund that fails releases
its reservation; one that bounced (CHANGE, `needs_manual`) keeps it until people have handled it.
A refund whose answer was lost is sent again with the same out_refund_no (the provider's rule),
and then followed with refundquery.
"""

import logging
from datetime import datetime

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import F
from django.http import Http404
from django.utils import timezone

from config.api_errors import ApiError, Conflict
from payments.gateway.errors import GatewayError
from payments.gateway.types import RefundRequest, RefundStatus
from payments.models import FollowUp, IdempotencyKey, Payment, PaymentState, Refund, RefundState
from payments.schedule import refund_next_query, refund_resubmit_at, seconds
from payments.services import events, follow_ups
from payments.services.numbers import new_out_refund_no
from payments.services.payments import current_schedule, system
from payments.services.provider import gateway, sub_merchant
from payments.statemachine import move
from tenancy.audit import audit_record
from tenancy.principals import Principal
from tenancy.scoping import scope

logger = logging.getLogger(__name__)

R = RefundState
# Answers after which the same refund may be sent again (reference §4.6).
RETRYABLE = frozenset({"SYSTEMERROR", "BIZERR_NEED_RETRY", "FREQUENCY_LIMITED",
                       "INVALID_REQ_TOO_MUCH"})  # fmt: skip
MAX_SUBMITS = 6


class RefundExceedsPayment(ApiError):
    code = "refund_exceeds_payment"


class PaymentNotRefundable(Conflict):
    code = "payment_not_refundable"


def _may_refund(actor: Principal, payment: Payment) -> bool:
    """Enterprise admins, merchant managers and the merchant's API keys (reference §3)."""
    if actor.api_key_id:
        return payment.merchant_id in actor.merchant_ids
    return payment.enterprise_id in actor.managed_enterprise_ids or (
        payment.merchant_id in actor.managed_merchant_ids
    )


def refund_create(
    *,
    actor: Principal,
    payment_id: int,
    amount_fen: int,
    reason: str = "",
    idempotency_key: IdempotencyKey | None = None,
) -> Refund:
    """Refund part or all of a succeeded payment; send it to the provider; return the refund.

    Raises 404 for a payment the actor cannot see, 403 without the right, 409 unless the payment
    succeeded, 400 when the amount exceeds what is left to refund.
    """
    payment = scope(actor, Payment).filter(pk=payment_id).first()
    if payment is None:
        raise Http404
    if not _may_refund(actor, payment):
        raise PermissionDenied("Your role does not refund payments.")
    if isinstance(amount_fen, bool) or not isinstance(amount_fen, int) or amount_fen <= 0:
        raise ApiError("amount_fen must be a positive whole number of fen.",
                       code="validation_error",
                       detail={"fields": {"amount_fen": ["Must be a positive integer."]}})  # fmt: skip
    now = timezone.now()
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=payment_id)
        if payment.state != PaymentState.SUCCEEDED:
            raise PaymentNotRefundable(f"Only a succeeded payment can be refunded; this one is "
                                       f"{payment.state}.")  # fmt: skip
        if amount_fen > payment.refundable_fen:
            raise RefundExceedsPayment(
                f"At most {payment.refundable_fen} fen of this payment can still be refunded.",
                detail={"refundable_fen": payment.refundable_fen},
            )
        refund = _reserve(payment, amount_fen=amount_fen, reason=reason, actor=actor, now=now)
        if idempotency_key is not None:
            IdempotencyKey.objects.filter(pk=idempotency_key.pk).update(refund=refund)
    # This request sends it unless the dispatcher claimed it first; the dispatcher is the backstop.
    if follow_ups.claim(Refund, refund.pk) is not None:
        refund_submit(refund.pk)
    refund.refresh_from_db()
    return refund


def _reserve(payment: Payment, *, amount_fen: int, reason: str, actor: Principal, now) -> Refund:
    """Create a refund due to be sent now and reserve its amount on the payment, audited.

    Call inside a transaction holding the payment's row lock; publishes refund.updated on commit.
    """
    refund = Refund.objects.create(
        enterprise_id=payment.enterprise_id, merchant_id=payment.merchant_id,
        store_id=payment.store_id, payment=payment, amount_fen=amount_fen,
        reason=reason[:80], out_refund_no=new_out_refund_no(now),
        created_by=actor.label[:150], follow_up=FollowUp.SUBMIT_REFUND, next_check_at=now,
    )  # fmt: skip
    Payment.objects.filter(pk=payment.pk).update(
        refund_reserved_fen=F("refund_reserved_fen") + amount_fen
    )
    audit_record(actor=actor, action="refund.create", target=refund, reason=reason,
                 changes={"amount_fen": [None, amount_fen]},
                 metadata={"payment": payment.pk})  # fmt: skip
    events.refund_changed_on_commit(refund)
    return refund


def refund_paid_after_close(payment: Payment) -> Refund:
    """Refund in full a payment the provider took after it was given up here.

    Call in the transaction that moved the payment by `succeed_after_close` (its row is locked),
    so the move and the refund commit together and happen once: a replayed notification finds
    the payment succeeded and moves nothing. The refund is sent by its follow-up task after
    commit, or by the dispatcher, like any refund; it is never sent inside this transaction.
    """
    refund = _reserve(payment, amount_fen=payment.amount_fen - payment.refund_reserved_fen,
                      reason="paid after close: automatic full refund",
                      actor=system(f"paid after close, payment {payment.pk}"),
                      now=timezone.now())  # fmt: skip
    follow_ups.schedule_on_commit(refund)
    return refund


def refund_follow_up(*, refund_id: int) -> str | None:
    """Do the refund's due follow-up if this caller claims it; return the action, or None."""
    if follow_ups.claim(Refund, refund_id) is None:
        return None
    refund = Refund.objects.filter(pk=refund_id).first()
    if refund is None:
        return None
    action = refund.follow_up
    if action == FollowUp.SUBMIT_REFUND:
        refund_submit(refund_id)
    elif action == FollowUp.QUERY_REFUND:
        _query(refund)
    return action


def refund_submit(refund_id: int) -> None:
    """Send the refund (again, with the same out_refund_no) and apply the answer."""
    refund = Refund.objects.select_related("payment").get(pk=refund_id)
    payment = refund.payment
    request = RefundRequest(
        merchant=sub_merchant(payment.sub_mch_id),
        out_trade_no=payment.out_trade_no,
        out_refund_no=refund.out_refund_no,
        total_fee=payment.amount_fen,
        refund_fee=refund.amount_fen,
        refund_desc=refund.reason or None,
    )
    try:
        answer = gateway().refund(request)
    except GatewayError as exc:
        answer = exc
    s = current_schedule()
    now = timezone.now()
    with transaction.atomic():
        refund = Refund.objects.select_for_update().get(pk=refund_id)
        if refund.follow_up != FollowUp.SUBMIT_REFUND or refund.state != R.CREATED:
            return
        attempt = refund.follow_up_attempts + 1
        err = type(answer).__name__ if isinstance(answer, GatewayError) else answer.err_code
        if not isinstance(answer, GatewayError) and answer.ok:
            move(refund, action="accept", actor=system("refund"), reason="accepted",
                 fields={"refund_id": answer.refund_id[:32], "follow_up": FollowUp.QUERY_REFUND,
                         "follow_up_attempts": 0,
                         "next_check_at": refund_next_query(requested_at=now, now=now, s=s)})  # fmt: skip
            follow_ups.schedule_on_commit(refund)
            events.refund_changed_on_commit(refund)
        elif isinstance(answer, GatewayError) or err in RETRYABLE:
            # Unknown or transient: send the same refund again; past the tries, ask refundquery.
            follow = FollowUp.SUBMIT_REFUND if attempt < MAX_SUBMITS else FollowUp.QUERY_REFUND
            _update(refund, follow_up=follow, follow_up_attempts=attempt, err_code=err[:64],
                    next_check_at=refund_resubmit_at(attempt=attempt, now=now, s=s))  # fmt: skip
        elif payment.paid_after_close:
            _automatic_refund_refused(refund, err_code=err, message=answer.err_code_des)
        else:
            _fail(refund, err_code=err, message=answer.err_code_des)


def _automatic_refund_refused(refund: Refund, *, err_code: str, message: str) -> None:
    """The provider refused the full refund of a payment taken after close or cancel (e.g. the
    merchant's balance is short). Failing it would release the money as if the sale stood: the
    refund moves to `needs_manual` instead, its amount stays reserved, and people settle it."""
    logger.error("automatic refund %s of payment %s refused (%s): handle it by hand", refund.pk,
                 refund.payment_id, err_code)  # fmt: skip
    move(refund, action="bounce", actor=system("refund"), reason=f"provider: {err_code}",
         fields={"err_code": err_code[:64],
                 "err_message": f"Automatic refund refused ({message or err_code})"[:200],
                 "follow_up": FollowUp.NONE, "next_check_at": None})  # fmt: skip
    events.refund_changed_on_commit(refund)


def _update(refund: Refund, **fields) -> None:
    Refund.objects.filter(pk=refund.pk).update(
        dispatched_at=None, updated_at=timezone.now(), **fields
    )
    for name, value in fields.items():
        setattr(refund, name, value)
    follow_ups.schedule_on_commit(refund)


def _fail(refund: Refund, *, err_code: str, message: str) -> None:
    """The refund failed and no money moved: release its reservation on the payment."""
    move(refund, action="fail", actor=system("refund"), reason=err_code,
         fields={"err_code": err_code[:64], "err_message": (message or "")[:200],
                 "follow_up": FollowUp.NONE, "next_check_at": None})  # fmt: skip
    Payment.objects.filter(pk=refund.payment_id).update(
        refund_reserved_fen=F("refund_reserved_fen") - refund.amount_fen
    )
    events.refund_changed_on_commit(refund)


def _bounce(refund: Refund, *, now: datetime, s) -> None:
    """refundquery answered CHANGE: the refund bounced off a frozen or void card (reference §4.7).

    The money left the merchant but never reached the customer: the refund moves to
    `needs_manual` for people to handle on the provider's merchant platform, its amount stays
    reserved on the payment (it is not refundable again, and not counted as refunded), and it is
    still queried, slowly, so that it settles here once the provider settles it.
    """
    logger.error("refund %s bounced (CHANGE): the merchant must handle it by hand on the "
                 "provider's platform", refund.pk)  # fmt: skip
    move(refund, action="bounce", actor=system("refundquery"), reason="provider: CHANGE",
         fields={"err_code": "CHANGE", "provider_status": RefundStatus.CHANGE,
                 "err_message": "Refund bounced (frozen or void card): handle it by hand on "
                                "the provider's merchant platform",
                 "follow_up": FollowUp.QUERY_REFUND, "dispatched_at": None,
                 "next_check_at": now + seconds(s.refund_manual_query_interval)})  # fmt: skip
    follow_ups.schedule_on_commit(refund)
    events.refund_changed_on_commit(refund)


def _next_query(refund: Refund, now: datetime, s) -> datetime:
    if refund.state == R.NEEDS_MANUAL:
        return now + seconds(s.refund_manual_query_interval)
    return refund_next_query(requested_at=refund.created_at, now=now, s=s)


def _query(refund: Refund) -> None:
    try:
        answer = gateway().refund_query(
            merchant=sub_merchant(refund.payment.sub_mch_id), out_refund_no=refund.out_refund_no
        )
    except GatewayError as exc:
        answer = exc
    s = current_schedule()
    now = timezone.now()
    with transaction.atomic():
        refund = Refund.objects.select_for_update().select_related("payment").get(pk=refund.pk)
        if refund.follow_up != FollowUp.QUERY_REFUND:
            return
        item = None
        if not isinstance(answer, GatewayError) and answer.ok:
            item = next((r for r in answer.refunds if r.out_refund_no == refund.out_refund_no),
                        None)  # fmt: skip
        if item is None:
            if (not isinstance(answer, GatewayError) and answer.err_code == "REFUNDNOTEXIST"
                    and refund.state == R.CREATED):  # fmt: skip
                _update(refund, follow_up=FollowUp.SUBMIT_REFUND, next_check_at=now)
                return
            _update(
                refund, follow_up=FollowUp.QUERY_REFUND, next_check_at=_next_query(refund, now, s)
            )
            return
        Refund.objects.filter(pk=refund.pk).update(provider_status=item.status)
        refund.provider_status = item.status
        if item.status == RefundStatus.SUCCESS:
            move(refund, action="succeed", actor=system("refundquery"), reason="refunded",
                 fields={"refund_id": item.refund_id[:32] or refund.refund_id,
                         "succeeded_at": item.success_time or now, "follow_up": FollowUp.NONE,
                         "next_check_at": None, "provider_status": item.status})  # fmt: skip
            Payment.objects.filter(pk=refund.payment_id).update(
                refunded_fen=F("refunded_fen") + refund.amount_fen
            )
            events.refund_changed_on_commit(refund)
        elif item.status == RefundStatus.REFUNDCLOSE:
            _fail(refund, err_code="REFUNDCLOSE", message="refund closed")
        elif item.status == RefundStatus.CHANGE and refund.state != R.NEEDS_MANUAL:
            _bounce(refund, now=now, s=s)
        else:  # PROCESSING, or CHANGE again while people handle it
            _update(
                refund, follow_up=FollowUp.QUERY_REFUND, next_check_at=_next_query(refund, now, s)
            )

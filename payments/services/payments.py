"""Taking a payment on a terminal: create, prompt, scan, pay, cancel.

Provider calls never run inside a database transaction: the row is first moved (and its follow-up
made durable) in one transaction, the provider is called, and its answer is applied in another.
A crash between the two leaves a row that is `paying` with a due follow-up, which the dispatcher
resumes: the outcome is then learned by orderquery, never guessed.
"""

import logging
import time
from datetime import datetime

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone

from config.api_errors import ApiError, Conflict
from payments.gateway.authcode import is_wechat_auth_code, mask_auth_code
from payments.gateway.errors import GatewayError, OutcomeUnknown, ProviderRejected
from payments.gateway.types import (
    MicropayOutcome,
    MicropayRequest,
    MicropayResult,
    NativeOrderRequest,
)
from payments.models import (
    FollowUp,
    IdempotencyKey,
    Payment,
    PaymentKind,
    PaymentState,
)
from payments.schedule import Schedule, micropay_deadline, seconds
from payments.services import events, follow_ups
from payments.services.numbers import new_out_trade_no
from payments.services.provider import gateway, sub_merchant
from payments.statemachine import move
from tenancy.principals import Principal
from tenancy.scoping import scope
from terminals.models import Terminal, TerminalState

logger = logging.getLogger(__name__)

P = PaymentState


class TerminalUnavailable(Conflict):
    code = "terminal_unavailable"


class TerminalBusy(Conflict):
    code = "terminal_busy"


class MerchantCannotTakePayments(Conflict):
    code = "merchant_cannot_take_payments"


def system(reason: str) -> Principal:
    return Principal.system(reason)


def current_schedule() -> Schedule:
    return Schedule(**settings.PAYMENTS_SCHEDULE)


# --- Who may take payments ----------------------------------------------------------------------


def _may_take_payment(actor: Principal, terminal: Terminal) -> bool:
    """Cashiers on their own store's terminals; API keys on their merchant's (reference §3)."""
    if actor.api_key_id:
        return terminal.merchant_id in actor.merchant_ids
    return terminal.store_id in actor.store_ids


def _terminal_for(actor: Principal, terminal_id: int) -> Terminal:
    terminal = (
        scope(actor, Terminal)
        .select_related("merchant__enterprise", "store")
        .filter(pk=terminal_id)
        .first()
    )
    if terminal is None:
        raise ApiError(
            "No such terminal.", code="validation_error",
            detail={"fields": {"terminal": ["No such terminal."]}},
        )  # fmt: skip
    if not _may_take_payment(actor, terminal):
        raise PermissionDenied("Your role does not take payments on this terminal.")
    return terminal


def _terminal_online(terminal_id: int) -> bool:
    from terminals import presence

    live = presence.read(terminal_id)
    return presence.judge(live, now=time.time()).presence == "online"


def _check_terminal_ready(terminal: Terminal) -> None:
    if not terminal.merchant.can_take_payments:
        raise MerchantCannotTakePayments(
            f"Merchant {terminal.merchant.name} cannot take payments yet "
            "(onboarding not finished, or its enterprise is not operating)."
        )
    if terminal.state != TerminalState.ACTIVE:
        raise TerminalUnavailable(f"Terminal {terminal.serial} is {terminal.state}, not active.")
    if not _terminal_online(terminal.pk):
        raise TerminalUnavailable(
            f"Terminal {terminal.serial} is offline: check its cable or Bluetooth link."
        )


def _check_amount(amount_fen: int) -> None:
    limit = settings.PAYMENTS_MAX_AMOUNT_FEN
    if not isinstance(amount_fen, int) or isinstance(amount_fen, bool) or amount_fen <= 0:
        raise ApiError(
            "amount_fen must be a positive whole number of fen.", code="validation_error",
            detail={"fields": {"amount_fen": ["Must be a positive integer (fen)."]}},
        )  # fmt: skip
    if amount_fen > limit:
        raise ApiError(
            f"amount_fen is above the limit of {limit} fen.", code="validation_error",
            detail={"fields": {"amount_fen": [f"At most {limit} fen."]}},
        )  # fmt: skip


def _check_auth_code(auth_code: str) -> None:
    if not is_wechat_auth_code(auth_code):
        raise ApiError(
            "auth_code is not a WeChat payment code (18 digits starting 10–15).",
            code="validation_error",
            detail={"fields": {"auth_code": ["Not a WeChat payment code."]}},
        )


# --- Create --------------------------------------------------------------------------------------


def payment_create(
    *,
    actor: Principal,
    terminal_id: int,
    kind: str,
    amount_fen: int,
    description: str,
    auth_code: str | None = None,
    idempotency_key: IdempotencyKey | None = None,
) -> Payment:
    """Create a payment on a terminal and start it; return the row in its resulting state.

    micropay with `auth_code` (the till's own scanner) pays at once; micropay without it prompts
    the customer screen (`display`) and waits for the terminal's `scan`; native orders a QR code
    and shows it. Raises 4xx ApiErrors for bad input, 409 for an offline or busy terminal.
    """
    _check_amount(amount_fen)
    if auth_code is not None:
        if kind != PaymentKind.MICROPAY:
            raise ApiError("auth_code is only for micropay.", code="validation_error")
        _check_auth_code(auth_code)
    terminal = _terminal_for(actor, terminal_id)
    _check_terminal_ready(terminal)
    payment = _insert(actor, terminal, kind, amount_fen, description, idempotency_key)
    if kind == PaymentKind.NATIVE:
        return native_start(payment)
    if auth_code is not None:
        return micropay_submit(payment, auth_code=auth_code, source="till", actor=actor)
    return _prompt_scan(payment, actor)


def _insert(actor, terminal, kind, amount_fen, description, idempotency_key) -> Payment:
    merchant = terminal.merchant
    try:
        with transaction.atomic():
            payment = Payment.objects.create(
                enterprise_id=terminal.enterprise_id,
                merchant_id=terminal.merchant_id,
                store_id=terminal.store_id,
                terminal=terminal,
                kind=kind,
                amount_fen=amount_fen,
                description=(description or f"{merchant.name}-{terminal.store.name}")[:127],
                out_trade_no=new_out_trade_no(),
                sub_mch_id=merchant.sub_mch_id,
                created_by=actor.label[:150],
            )
            if idempotency_key is not None:
                IdempotencyKey.objects.filter(pk=idempotency_key.pk).update(payment=payment)
            from tenancy.audit import audit_record

            audit_record(
                actor=actor, action="payment.create", target=payment,
                changes={"amount_fen": [None, amount_fen], "kind": [None, kind]},
            )  # fmt: skip
    except IntegrityError as exc:
        if "payment_one_open_per_terminal" in str(exc):
            raise TerminalBusy(
                f"Terminal {terminal.serial} is busy with another payment; "
                "finish or cancel it first."
            ) from None
        raise
    payment.terminal = terminal
    payment.merchant = merchant
    return payment


def _prompt_scan(payment: Payment, actor: Principal) -> Payment:
    s = current_schedule()
    now = timezone.now()
    with transaction.atomic():
        move(
            payment, action="prompt", actor=actor, reason="waiting for the customer's code",
            fields={"follow_up": FollowUp.EXPIRE_PROMPT,
                    "next_check_at": now + seconds(s.scan_timeout)},
        )  # fmt: skip
        _command(
            payment, "display",
            {"screen": "customer", "amount_fen": payment.amount_fen,
             "text": f"{payment.merchant.name}: please show your WeChat payment code",
             "timeout_s": int(s.scan_timeout)},
        )  # fmt: skip
        follow_ups.schedule_on_commit(payment)
        events.payment_changed_on_commit(payment)
    return payment


def _command(payment: Payment, kind: str, payload: dict) -> None:
    """Send a command to the payment's terminal; a terminal gone away must not undo the payment."""
    from terminals.services.commands import command_send

    try:
        with transaction.atomic():
            command_send(
                terminal_id=payment.terminal_id, kind=kind, payload=payload,
                actor=system(f"payment {payment.pk}"),
            )  # fmt: skip
    except (ApiError, PermissionDenied):
        logger.warning("payment %s: could not send %s to terminal %s", payment.pk, kind,
                       payment.terminal_id, exc_info=True)  # fmt: skip


def _result_status(payment: Payment) -> str:
    return {
        P.SUCCEEDED: "succeeded",
        P.FAILED: "failed",
        P.CLOSED: "cancelled",
        P.REVERSED: "cancelled",
    }.get(payment.state, "pending")


def _result_message(payment: Payment) -> str:
    if payment.state == P.SUCCEEDED:
        return "Paid"
    if payment.state == P.PAYING:
        return "Customer confirming payment"
    return payment.err_message or payment.err_code or payment.state


def announce_result(payment: Payment) -> None:
    """Tell the terminal's screens (payment_result) and every group; call inside the transaction."""
    _command(payment, "payment_result", result_payload(payment))
    events.payment_changed_on_commit(payment)


def result_payload(payment: Payment) -> dict:
    """The `payment_result` command's payload: what both screens show of the outcome."""
    return {
        "payment_id": str(payment.pk),
        "status": _result_status(payment),
        "amount_fen": payment.amount_fen,
        "message": _result_message(payment)[:200],
        **({"scan_ref": payment.scan_ref} if payment.scan_ref else {}),
    }


# --- Micropay ------------------------------------------------------------------------------------


def payment_scan(*, terminal_id: int, scan_ref: str, code: str, amount_fen: int | None) -> None:
    """Handle a terminal's `scan`: pay its awaiting micropay with the customer's code.

    A scan with no payment waiting, or for another amount, is answered on the terminal's screen
    and changes nothing. The code is used once, in memory, and only its masked form is kept.
    """
    payment = (
        Payment.objects.select_related("merchant", "terminal")
        .filter(terminal_id=terminal_id, state=P.AWAITING_SCAN, kind=PaymentKind.MICROPAY)
        .first()
    )
    if payment is None:
        logger.info("terminal %s scanned %s with no payment waiting", terminal_id,
                    mask_auth_code(code))  # fmt: skip
        return
    if amount_fen is not None and amount_fen != payment.amount_fen:
        logger.warning("terminal %s scanned for %s fen, payment %s is %s fen", terminal_id,
                       amount_fen, payment.pk, payment.amount_fen)  # fmt: skip
        return
    actor = Principal.for_terminal(
        terminal_id=terminal_id, enterprise_id=payment.enterprise_id, store_id=payment.store_id
    )
    if not is_wechat_auth_code(code):
        with transaction.atomic():
            move(payment, action="fail", actor=actor, reason="not a WeChat payment code",
                 fields={"err_code": "AUTH_CODE_INVALID", "scan_ref": scan_ref,
                         "err_message": "Not a WeChat payment code",
                         "auth_code_masked": mask_auth_code(code), "finished_at": timezone.now(),
                         "follow_up": FollowUp.NONE, "next_check_at": None})  # fmt: skip
            announce_result(payment)
        return
    micropay_submit(payment, auth_code=code, source="terminal", actor=actor, scan_ref=scan_ref)


def micropay_submit(
    payment: Payment, *, auth_code: str, source: str, actor: Principal, scan_ref: str = ""
) -> Payment:
    """Send micropay once and apply the answer (reference §5.3); return the payment.

    Before the call, the payment is `paying` with an orderquery due at +5 s, so a crash during
    the call is followed up by the dispatcher.
    """
    s = current_schedule()
    now = timezone.now()
    with transaction.atomic():
        move(
            payment, action="submit", actor=actor, reason=f"payment code from the {source}",
            fields={"auth_code_masked": mask_auth_code(auth_code), "scan_source": source,
                    "scan_ref": scan_ref, "submitted_at": now,
                    "deadline_at": micropay_deadline(now, s),
                    "follow_up": FollowUp.QUERY,
                    "next_check_at": now + seconds(s.micropay_first_query)},
        )  # fmt: skip
    request = MicropayRequest(
        merchant=sub_merchant(payment.sub_mch_id),
        out_trade_no=payment.out_trade_no,
        total_fee=payment.amount_fen,
        body=payment.description,
        auth_code=auth_code,
        spbill_create_ip=settings.PAYMENTS_CLIENT_IP,
        device_info=payment.terminal.serial if hasattr(payment, "terminal") else None,
    )
    del auth_code  # from here on only the masked form exists
    try:
        result: MicropayResult | GatewayError = gateway().micropay(request)
    except GatewayError as exc:
        result = exc
    return micropay_apply(payment.pk, result)


def micropay_apply(payment_id: int, result: "MicropayResult | GatewayError") -> Payment:
    """Apply a micropay answer (or the error that stands for it) by the decision table."""
    s = current_schedule()
    now = timezone.now()
    actor = system("micropay answer")
    with transaction.atomic():
        payment = Payment.objects.select_for_update().select_related("merchant").get(pk=payment_id)
        if payment.state != P.PAYING:
            return payment  # a poll or notification got there first
        if isinstance(result, ProviderRejected):
            # return_code=FAIL is unsigned: confirm with one orderquery (ORDERNOTEXIST → failed).
            _keep_polling(payment, err_code="RETURN_FAIL", message=result.return_msg, at=now
                          + seconds(s.micropay_first_query))  # fmt: skip
        elif isinstance(result, OutcomeUnknown):
            logger.warning("payment %s: micropay outcome unknown (%s)", payment.pk,
                           type(result).__name__)  # fmt: skip
            _keep_polling(payment, err_code=type(result).__name__, message=str(result)[:200])
        elif isinstance(result, GatewayError):
            _keep_polling(payment, err_code=type(result).__name__, message=str(result)[:200])
        elif result.outcome == MicropayOutcome.PAID:
            payment_succeed(payment, transaction_id=result.transaction_id, actor=actor,
                            reason="micropay answered SUCCESS", paid_at=result.time_end)  # fmt: skip
        elif result.outcome in (MicropayOutcome.PENDING, MicropayOutcome.UNKNOWN):
            _keep_polling(payment, err_code=result.err_code, message=result.err_code_des)
        elif result.outcome == MicropayOutcome.ORDER_CONFLICT:
            _keep_polling(payment, err_code=result.err_code, message=result.err_code_des, at=now)
        elif result.outcome == MicropayOutcome.DECLINED:
            # No money moved; still close the loop: reverse after the provider's minimum delay.
            payment_fail(payment, err_code=result.err_code, message=result.err_code_des,
                         actor=actor, follow_up=FollowUp.REVERSE,
                         at=payment.submitted_at + seconds(s.reverse_min_delay))  # fmt: skip
        else:  # REJECTED: a configuration or request error, no order was created
            logger.error("payment %s: micropay rejected %s (%s): check the provider account",
                         payment.pk, result.err_code, result.err_code_des)  # fmt: skip
            payment_fail(payment, err_code=result.err_code, message=result.err_code_des,
                         actor=actor)  # fmt: skip
        if payment.state == P.PAYING:
            announce_result(payment)
    return payment


def _keep_polling(
    payment: Payment, *, err_code: str, message: str, at: datetime | None = None
) -> None:
    s = current_schedule()
    due = at or payment.submitted_at + seconds(s.micropay_first_query)
    Payment.objects.filter(pk=payment.pk).update(
        err_code=err_code[:64], err_message=(message or "")[:200],
        follow_up=FollowUp.QUERY, next_check_at=due, updated_at=timezone.now(),
    )  # fmt: skip
    payment.err_code, payment.err_message = err_code[:64], (message or "")[:200]
    payment.follow_up, payment.next_check_at = FollowUp.QUERY, due
    follow_ups.schedule_on_commit(payment)


# Given up here without a reversal; the provider may still report them paid
# (payments.statemachine).
GIVEN_UP_STATES = (P.FAILED, P.CLOSED)


def payment_succeed(
    payment: Payment,
    *,
    transaction_id: str,
    actor: Principal,
    reason: str,
    paid_at: datetime | None = None,
    trade_state: str = "SUCCESS",
) -> Payment:
    """Mark paid (the provider's word, verified): stop follow-ups, announce. Inside a transaction.

    A payment already failed or closed here was paid after all (a late notification, a
    last-second scan, closeorder's ORDERPAID): it moves by `succeed_after_close`, is flagged
    `paid_after_close`, and is refunded in full in the same transaction (refunds are sent after
    commit). Its terminal is not told: the customer screen has long moved on to other sales.
    A native order the cashier cancelled that the customer paid before the close could happen
    (reference §6) is the same case: it succeeds, is flagged and is refunded in full. A micropay
    cancelled while paying is reversed instead (the reversal refunds a paid order), and a payment
    already reversed here stays reversed: the reversal gave the money back.
    """
    now = timezone.now()
    if payment.state == P.REVERSED:
        # A reversal of a paid order gives the money back (reference §4.3): the report is stale.
        logger.warning("payment %s reported paid after it was reversed: nothing to do", payment.pk)
        return payment
    if payment.cancel_requested_at is not None and payment.kind == PaymentKind.MICROPAY:
        # Cancelled while paying: the reversal still due returns the money of a paid order.
        due = _reverse_due(payment, now)
        logger.warning("payment %s paid after it was cancelled: reversing it", payment.pk)
        Payment.objects.filter(pk=payment.pk).update(
            follow_up=FollowUp.REVERSE, next_check_at=due, updated_at=now
        )
        payment.follow_up, payment.next_check_at = FollowUp.REVERSE, due
        follow_ups.schedule_on_commit(payment)
        return payment
    late = payment.state in GIVEN_UP_STATES
    fields = {"transaction_id": transaction_id[:32], "paid_at": paid_at or now,
              "finished_at": now, "trade_state": trade_state, "err_code": "", "err_message": "",
              "follow_up": FollowUp.NONE, "next_check_at": None}  # fmt: skip
    from payments.services.refunds import refund_paid_after_close

    if not late and payment.cancel_requested_at is None:
        move(payment, action="succeed", actor=actor, reason=reason, fields=fields)
        announce_result(payment)
        return payment

    was = payment.state if late else "cancelled"
    logger.error("payment %s was paid after it was %s here: refunding it in full", payment.pk,
                 was)  # fmt: skip
    move(payment, action="succeed_after_close" if late else "succeed", actor=actor,
         reason=reason, metadata={"was": was},
         fields={**fields, "paid_after_close": True,
                 "err_message": f"paid after it was {was} here; refunded in full"})  # fmt: skip
    refund_paid_after_close(payment)
    events.payment_changed_on_commit(payment)
    return payment


def _reverse_due(payment: Payment, now: datetime) -> datetime:
    """When a cancelled micropay may be reversed: never within the provider's minimum delay."""
    return max(now, (payment.submitted_at or now) + seconds(current_schedule().reverse_min_delay))


def payment_fail(
    payment: Payment,
    *,
    err_code: str,
    message: str,
    actor: Principal,
    follow_up: str = FollowUp.NONE,
    at: datetime | None = None,
) -> Payment:
    move(payment, action="fail", actor=actor, reason=err_code or "failed",
         fields={"err_code": err_code[:64], "err_message": (message or "")[:200],
                 "finished_at": timezone.now(), "follow_up": follow_up,
                 "next_check_at": at if follow_up else None})  # fmt: skip
    if follow_up:
        follow_ups.schedule_on_commit(payment)
    announce_result(payment)
    return payment


def payment_end(payment: Payment, *, action: str, actor: Principal, reason: str, **fields) -> None:
    """Close or reverse: a final state with no follow-up left. Inside a transaction."""
    move(payment, action=action, actor=actor, reason=reason,
         fields={"finished_at": timezone.now(), "follow_up": FollowUp.NONE,
                 "next_check_at": None, **fields})  # fmt: skip
    announce_result(payment)


# --- Native QR -----------------------------------------------------------------------------------


def native_start(payment: Payment) -> Payment:
    """Order a QR code (unifiedorder) and show it on the customer screen."""
    s = current_schedule()
    now = timezone.now()
    expires = now + seconds(s.native_expiry)
    request = NativeOrderRequest(
        merchant=sub_merchant(payment.sub_mch_id),
        out_trade_no=payment.out_trade_no,
        total_fee=payment.amount_fen,
        body=payment.description,
        product_id=f"T{payment.terminal_id}",
        spbill_create_ip=settings.PAYMENTS_CLIENT_IP,
        time_expire=expires,
        notify_url=settings.PAYMENTS_NOTIFY_URL or None,
    )
    actor = system("native order")
    try:
        result = gateway().native_order(request)
    except GatewayError as exc:
        # Whether an order exists is unknown, but nobody has its QR code: close it when allowed.
        with transaction.atomic():
            payment_fail(payment, err_code=type(exc).__name__, message=str(exc)[:200],
                         actor=actor, follow_up=FollowUp.CLOSE,
                         at=now + seconds(s.native_min_close))  # fmt: skip
        return payment
    with transaction.atomic():
        if not result.ok:
            payment_fail(payment, err_code=result.err_code, message=result.err_code_des,
                         actor=actor)  # fmt: skip
            return payment
        move(payment, action="prompt", actor=actor, reason="QR code shown",
             fields={"code_url": result.code_url[:256], "expires_at": expires,
                     "submitted_at": now, "follow_up": FollowUp.QUERY,
                     "next_check_at": now + seconds(s.native_queries[0])})  # fmt: skip
        _command(
            payment, "display",
            {"screen": "customer", "amount_fen": payment.amount_fen, "qr": result.code_url,
             "text": f"{payment.merchant.name}: scan to pay with WeChat",
             "timeout_s": int(s.native_expiry)},
        )  # fmt: skip
        follow_ups.schedule_on_commit(payment)
        events.payment_changed_on_commit(payment)
    return payment


# --- Cancel --------------------------------------------------------------------------------------


def payment_cancel(*, actor: Principal, payment_id: int) -> Payment:
    """Cancel a payment that has not settled.

    A prompt nobody answered closes at once; a micropay already sent is reversed (not before the
    provider's 15 s); a native order's QR is hidden and the order closed once the provider allows.
    A settled payment answers 409 (refund it instead).
    """
    payment = scope(actor, Payment).filter(pk=payment_id).first()
    if payment is None:
        from django.http import Http404

        raise Http404
    if not actor.is_system and not _may_take_payment(actor, payment.terminal):
        raise PermissionDenied("Your role does not cancel payments on this terminal.")
    s = current_schedule()
    now = timezone.now()
    with transaction.atomic():
        payment = Payment.objects.select_for_update().select_related("merchant").get(pk=payment_id)
        if payment.state in (P.CREATED,) or (
            payment.state == P.AWAITING_SCAN and payment.kind == PaymentKind.MICROPAY
        ):
            payment_end(payment, action="close", actor=actor, reason="cancelled",
                        err_code="CANCELLED", err_message="Cancelled")  # fmt: skip
            return payment
        if payment.state not in (P.AWAITING_SCAN, P.PAYING):
            from payments.statemachine import payment_machine

            payment_machine.check(payment, "close")  # raises the 409 with the allowed actions
        if payment.kind == PaymentKind.NATIVE:
            follow_up, at = (
                FollowUp.CLOSE,
                max(now, payment.created_at + seconds(s.native_min_close)),
            )
            _command(payment, "clear", {"screen": "customer"})
        else:
            follow_up, at = FollowUp.REVERSE, _reverse_due(payment, now)
        Payment.objects.filter(pk=payment.pk).update(
            cancel_requested_at=now, follow_up=follow_up, next_check_at=at, updated_at=now
        )
        payment.cancel_requested_at, payment.follow_up, payment.next_check_at = now, follow_up, at
        from tenancy.audit import audit_record

        audit_record(actor=actor, action="payment.cancel_requested", target=payment,
                     reason=f"{follow_up} at {at.isoformat()}")  # fmt: skip
        follow_ups.schedule_on_commit(payment)
        events.payment_changed_on_commit(payment)
    return payment

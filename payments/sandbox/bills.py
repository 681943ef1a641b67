"""The sandbox's trade bills: what its ledger processed on a Beijing day, plus injected faults."""

import secrets
from datetime import date, datetime, time, timedelta

from django.db.models import Q
from django.utils import timezone

from payments.gateway.types import BillRow, BillType
from payments.gateway.wechatpay.bills import render_bill
from payments.gateway.wechatpay.money import fee_fen
from payments.gateway.wechatpay.timefmt import BEIJING, beijing_day_bounds
from payments.sandbox import ids
from payments.sandbox.models import (
    AdjustmentKind,
    SandboxBillAdjustment,
    SandboxOrder,
    SandboxRefund,
)
from payments.sandbox.refunds import refund_status

RATE_BASIS_POINTS = 60
RATE = "0.60%"


def _payment_row(order: SandboxOrder, *, amount: int | None = None) -> BillRow:
    amount = order.total_fee if amount is None else amount
    return BillRow(
        trade_time=order.paid_at,
        appid=order.appid,
        mch_id=order.mch_id,
        sub_mch_id=order.sub_mch_id,
        device_info=order.device_info,
        transaction_id=order.transaction_id,
        out_trade_no=order.out_trade_no,
        openid=order.openid,
        trade_type=order.trade_type,
        trade_state="SUCCESS",
        bank_type="CFT",
        currency="CNY",
        settlement_total_fee=amount,
        coupon_fee=0,
        refund_id="0",
        out_refund_no="0",
        refund_type="",
        refund_status="",
        body=order.body,
        attach=order.attach,
        fee=fee_fen(amount, RATE_BASIS_POINTS),
        rate=RATE,
        total_fee=amount,
        apply_refund_fee=0,
    )


def _refund_row(
    order: SandboxOrder,
    *,
    moment: datetime,
    refund_id: str,
    out_refund_no: str,
    amount: int,
    status: str,
    state: str = "REFUND",
    success_at: datetime | None = None,
) -> BillRow:
    return BillRow(
        trade_time=moment,
        appid=order.appid,
        mch_id=order.mch_id,
        sub_mch_id=order.sub_mch_id,
        device_info=order.device_info,
        transaction_id=order.transaction_id,
        out_trade_no=order.out_trade_no,
        openid=order.openid,
        trade_type=order.trade_type,
        trade_state=state,
        bank_type="CFT",
        currency="CNY",
        settlement_total_fee=0,
        coupon_fee=0,
        refund_id=refund_id,
        out_refund_no=out_refund_no,
        refund_fee=amount,
        refund_type="ORIGINAL",
        refund_status=status,
        body=order.body,
        attach=order.attach,
        fee=-fee_fen(amount, RATE_BASIS_POINTS),
        rate=RATE,
        total_fee=0,
        apply_refund_fee=amount,
        refund_apply_time=moment,
        refund_success_time=success_at,
    )


def _scope(mch_id: str, sub_mch_id: str) -> Q:
    scope = Q(mch_id=mch_id)
    return scope & Q(sub_mch_id=sub_mch_id) if sub_mch_id else scope


def _payments(day: date, mch_id: str, sub_mch_id: str) -> list[BillRow]:
    start, end = beijing_day_bounds(day)
    adjustments = SandboxBillAdjustment.objects.filter(bill_date=day)
    if sub_mch_id:
        adjustments = adjustments.filter(sub_mch_id=sub_mch_id)
    missing = {a.out_trade_no for a in adjustments if a.kind == AdjustmentKind.MISSING_LINE}
    changed = {
        a.out_trade_no: a.amount for a in adjustments if a.kind == AdjustmentKind.CHANGED_AMOUNT
    }
    orders = SandboxOrder.objects.filter(
        _scope(mch_id, sub_mch_id), paid_at__gte=start, paid_at__lt=end
    ).order_by("paid_at", "pk")
    rows = [
        _payment_row(order, amount=changed.get(order.out_trade_no))
        for order in orders
        if order.out_trade_no not in missing
    ]
    rows.extend(_extra_rows(day, mch_id, adjustments))
    return rows


def _extra_rows(day: date, mch_id: str, adjustments) -> list[BillRow]:
    """Payments the provider reports but the platform never made (injected)."""
    rows = []
    moment = datetime.combine(day, time(12, 0), tzinfo=BEIJING)
    for adjustment in adjustments:
        if adjustment.kind != AdjustmentKind.EXTRA_PAYMENT:
            continue
        phantom = SandboxOrder(
            mch_id=mch_id,
            sub_mch_id=adjustment.sub_mch_id,
            appid="",
            out_trade_no=adjustment.out_trade_no,
            transaction_id=f"4200{day:%Y%m%d}{adjustment.pk:016d}",
            trade_type="MICROPAY",
            total_fee=adjustment.amount or 0,
            body="sandbox extra payment",
            openid=ids.openid_for(f"extra:{adjustment.pk}"),
            paid_at=moment,
        )
        rows.append(_payment_row(phantom))
    return rows


def _refunds(day: date, mch_id: str, sub_mch_id: str) -> list[BillRow]:
    start, end = beijing_day_bounds(day)
    # A refund's status is frozen at billing: SUCCESS if it succeeded before the day ended.
    cutoff = min(end, timezone.now())
    refunds = SandboxRefund.objects.select_related("order").filter(
        created_at__gte=start, created_at__lt=end, order__mch_id=mch_id
    )
    if sub_mch_id:
        refunds = refunds.filter(order__sub_mch_id=sub_mch_id)
    rows = [
        _refund_row(
            refund.order,
            moment=refund.created_at,
            refund_id=refund.refund_id,
            out_refund_no=refund.out_refund_no,
            amount=refund.refund_fee,
            status=refund_status(refund, cutoff),
            success_at=refund.success_at if refund_status(refund, cutoff) == "SUCCESS" else None,
        )
        for refund in refunds.order_by("created_at", "pk")
    ]
    # A paid order reversed that day: the money went back under the original number.
    revoked = SandboxOrder.objects.filter(
        _scope(mch_id, sub_mch_id), revoked_at__gte=start, revoked_at__lt=end, paid_at__isnull=False
    ).order_by("revoked_at", "pk")
    rows.extend(
        _refund_row(
            order,
            moment=order.revoked_at,
            refund_id="0",
            out_refund_no="0",
            amount=order.total_fee,
            status="SUCCESS",
            state="REVOKED",
            success_at=order.revoked_at,
        )
        for order in revoked
    )
    return rows


def bill_rows(day: date, bill_type: BillType, *, mch_id: str, sub_mch_id: str) -> list[BillRow]:
    payments = _payments(day, mch_id, sub_mch_id) if bill_type != BillType.REFUND else []
    refunds = _refunds(day, mch_id, sub_mch_id) if bill_type != BillType.SUCCESS else []
    return sorted(payments + refunds, key=lambda row: row.trade_time)


def had_activity(day: date, *, mch_id: str, sub_mch_id: str) -> bool:
    """Whether the provider processed anything that day (else: "No Bill Exist")."""
    start, end = beijing_day_bounds(day)
    scope = _scope(mch_id, sub_mch_id)
    return (
        SandboxOrder.objects.filter(scope, created_at__gte=start, created_at__lt=end).exists()
        or SandboxOrder.objects.filter(scope, paid_at__gte=start, paid_at__lt=end).exists()
        or bool(bill_rows(day, BillType.ALL, mch_id=mch_id, sub_mch_id=sub_mch_id))
    )


def render(day: date, bill_type: BillType, *, mch_id: str, sub_mch_id: str) -> str:
    return render_bill(bill_rows(day, bill_type, mch_id=mch_id, sub_mch_id=sub_mch_id), bill_type)


def new_out_trade_no() -> str:
    return "SBXEXTRA" + secrets.token_hex(8).upper()


def today() -> date:
    return timezone.now().astimezone(BEIJING).date()


def yesterday() -> date:
    return today() - timedelta(days=1)

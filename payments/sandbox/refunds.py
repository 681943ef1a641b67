"""Refunds in the sandbox's ledger: refund (idempotent on out_refund_no) and refundquery."""

from datetime import datetime

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from payments.gateway.wechatpay.timefmt import BEIJING
from payments.sandbox import account as config
from payments.sandbox import ids
from payments.sandbox.envelope import BusinessFailure, Request
from payments.sandbox.models import SandboxOrder, SandboxRefund
from payments.sandbox.orders import PAID_STATES, STATE_DESC, _locked

MAX_REFUNDS_PER_ORDER = 50
PAGE = 10


OUTCOMES = ("SUCCESS", "REFUNDCLOSE", "CHANGE")


def refund_status(refund: SandboxRefund, at: datetime | None = None) -> str:
    """PROCESSING until the refund's time, then its outcome (SUCCESS unless scripted)."""
    return refund.outcome if refund.success_at <= (at or timezone.now()) else "PROCESSING"


class RefundNotFound(Exception):
    pass


@transaction.atomic
def script_outcome(*, out_refund_no: str, outcome: str, sub_mch_id: str = "") -> SandboxRefund:
    """Make a refund end in `outcome` (e.g. CHANGE: the customer's card is frozen)."""
    refunds = SandboxRefund.objects.select_for_update().filter(out_refund_no=out_refund_no)
    if sub_mch_id:
        refunds = refunds.filter(order__sub_mch_id=sub_mch_id)
    found = list(refunds[:2])
    if len(found) != 1:
        raise RefundNotFound(out_refund_no)
    found[0].outcome = outcome
    found[0].save(update_fields=["outcome"])
    return found[0]


def _refund_fields(order: SandboxOrder, refund: SandboxRefund) -> dict[str, str]:
    return {
        "transaction_id": order.transaction_id,
        "out_trade_no": order.out_trade_no,
        "out_refund_no": refund.out_refund_no,
        "refund_id": refund.refund_id,
        "refund_channel": "",
        "refund_fee": str(refund.refund_fee),
        "settlement_refund_fee": str(refund.refund_fee),
        "total_fee": str(order.total_fee),
        "settlement_total_fee": str(order.total_fee),
        "fee_type": "CNY",
        "cash_fee": str(order.total_fee),
        "cash_refund_fee": str(refund.refund_fee),
    }


@transaction.atomic
def refund(request: Request) -> dict[str, str]:
    request.require("out_refund_no", "total_fee", "refund_fee")
    total_fee, refund_fee = request.fen("total_fee"), request.fen("refund_fee")
    order = _locked(request)
    if order is None:
        raise BusinessFailure("ORDERNOTEXIST", "订单不存在")
    if order.trade_state == "REVOKED":
        raise BusinessFailure("ERROR", "订单已撤销，不能退款")
    if order.trade_state not in PAID_STATES:
        raise BusinessFailure("ORDERNOTEXIST", "订单未支付")
    if total_fee != order.total_fee:
        raise BusinessFailure("PARAM_ERROR", "订单金额或退款金额与之前请求不一致，请核实后再试")
    existing = order.refunds.filter(out_refund_no=request.get("out_refund_no")).first()
    if existing:
        # Retrying a refund with the same number is the documented way to recover from errors.
        if existing.refund_fee != refund_fee:
            raise BusinessFailure("PARAM_ERROR", "订单金额或退款金额与之前请求不一致，请核实后再试")
        return _refund_fields(order, existing)
    # A closed refund gave the money back to the merchant: it is refundable again.
    settled = order.refunds.exclude(outcome="REFUNDCLOSE", success_at__lte=timezone.now())
    refunded = settled.aggregate(total=Sum("refund_fee"))["total"] or 0
    if refunded + refund_fee > order.total_fee:
        raise BusinessFailure("ERROR", "申请退款金额超过订单可退金额")
    if order.refunds.count() >= MAX_REFUNDS_PER_ORDER:
        raise BusinessFailure("ERROR", "该订单退款次数超过限制")
    now = timezone.now()
    new = SandboxRefund.objects.create(
        order=order,
        out_refund_no=request.get("out_refund_no"),
        refund_id=ids.refund_id(now),
        refund_fee=refund_fee,
        created_at=now,
        success_at=now + config.refund_delay(),
    )
    order.trade_state = "REFUND"
    order.trade_state_desc = STATE_DESC["REFUND"]
    order.save(update_fields=["trade_state", "trade_state_desc"])
    return _refund_fields(order, new)


def _numbered(n: int, refund: SandboxRefund) -> dict[str, str]:
    status = refund_status(refund)
    fields = {
        f"out_refund_no_{n}": refund.out_refund_no,
        f"refund_id_{n}": refund.refund_id,
        f"refund_channel_{n}": "ORIGINAL",
        f"refund_fee_{n}": str(refund.refund_fee),
        f"settlement_refund_fee_{n}": str(refund.refund_fee),
        f"refund_status_{n}": status,
        f"refund_account_{n}": "REFUND_SOURCE_UNSETTLED_FUNDS",
        f"refund_recv_accout_{n}": "支付用户的零钱",
    }
    if status == "SUCCESS":
        moment = refund.success_at.astimezone(BEIJING)
        fields[f"refund_success_time_{n}"] = moment.strftime("%Y-%m-%d %H:%M:%S")
    return fields


def _lookup(request: Request) -> tuple[SandboxOrder, list[SandboxRefund], bool]:
    """Find refunds by refund_id > out_refund_no > transaction_id > out_trade_no."""
    refunds = SandboxRefund.objects.select_related("order").filter(
        order__mch_id=request.get("mch_id"), order__sub_mch_id=request.get("sub_mch_id")
    )
    for name, lookup in (("refund_id", "refund_id"), ("out_refund_no", "out_refund_no")):
        if request.get(name):
            found = refunds.filter(**{lookup: request.get(name)}).first()
            if found is None:
                raise BusinessFailure("REFUNDNOTEXIST", "退款订单查询失败")
            return found.order, [found], False
    for name in ("transaction_id", "out_trade_no"):
        if request.get(name):
            found = list(refunds.filter(**{f"order__{name}": request.get(name)}).order_by("pk"))
            if not found:
                raise BusinessFailure("REFUNDNOTEXIST", "退款订单查询失败")
            return found[0].order, found, True
    raise BusinessFailure("LACK_PARAMS", "缺少参数out_trade_no")


def refundquery(request: Request) -> dict[str, str]:
    order, refunds, by_order = _lookup(request)
    fields = {
        "transaction_id": order.transaction_id,
        "out_trade_no": order.out_trade_no,
        "total_fee": str(order.total_fee),
        "settlement_total_fee": str(order.total_fee),
        "fee_type": "CNY",
        "cash_fee": str(order.total_fee),
    }
    if by_order and (len(refunds) > PAGE or request.get("offset")):
        raw = request.get("offset") or "0"
        if not raw.isdigit() or int(raw) >= len(refunds):
            raise BusinessFailure("PARAM_ERROR", "offset参数错误")
        offset = int(raw)
        fields["total_refund_count"] = str(len(refunds))
        refunds = refunds[offset : offset + PAGE]
    fields["refund_count"] = str(len(refunds))
    for n, item in enumerate(refunds):
        fields.update(_numbered(n, item))
    return fields

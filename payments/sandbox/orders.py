"""Orders in the sandbox's ledger: micropay, orderquery, reverse, unifiedorder, closeorder, scan.

Every handler locks the order row it answers about, so a repeated or concurrent request sees one
consistent state; a USERPAYING order the customer will confirm becomes paid lazily, when it is
next looked at after its due time.
"""

from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from payments.gateway.authcode import mask_auth_code
from payments.gateway.wechatpay.timefmt import from_provider, to_provider
from payments.sandbox import account as config
from payments.sandbox import ids
from payments.sandbox.envelope import BusinessFailure, Request
from payments.sandbox.models import (
    NotificationStatus,
    SandboxNotification,
    SandboxOrder,
    TradeType,
)
from payments.sandbox.scenarios import Scenario, is_test_code, scenario_for

REVERSE_WINDOW = timedelta(days=7)
STATE_DESC = {
    "SUCCESS": "支付成功",
    "REFUND": "转入退款",
    "NOTPAY": "未支付",
    "CLOSED": "已关闭",
    "REVOKED": "已撤销（付款码支付）",
    "USERPAYING": "用户支付中（付款码支付）",
}
PAID_STATES = ("SUCCESS", "REFUND")

# A handler answers fields, or a failure it returns (not raises) so its state changes commit.
Outcome = dict[str, str] | BusinessFailure


class NoAnswer(Exception):
    """Do not answer for this many seconds (the provider timed out)."""

    def __init__(self, seconds: float):
        super().__init__(seconds)
        self.seconds = seconds


def _locked(request: Request) -> SandboxOrder | None:
    orders = SandboxOrder.objects.select_for_update().filter(
        mch_id=request.get("mch_id"), sub_mch_id=request.get("sub_mch_id")
    )
    if request.get("transaction_id"):
        order = orders.filter(transaction_id=request.get("transaction_id")).first()
    elif request.get("out_trade_no"):
        order = orders.filter(out_trade_no=request.get("out_trade_no")).first()
    else:
        raise BusinessFailure("LACK_PARAMS", "缺少参数out_trade_no")
    if order:
        _refresh(order)
    return order


def _mark_paid(order: SandboxOrder, moment: datetime) -> None:
    order.trade_state = "SUCCESS"
    order.trade_state_desc = STATE_DESC["SUCCESS"]
    order.paid_at = moment
    order.transaction_id = ids.transaction_id(moment)


def confirms_now(order: SandboxOrder) -> bool:
    """A USERPAYING order whose customer confirms at its due time, and that time has come."""
    return bool(
        order.trade_state == "USERPAYING"
        and order.pay_due_at
        and order.pay_due_at <= timezone.now()
    )


def _refresh(order: SandboxOrder) -> None:
    """The customer confirms a USERPAYING order at its due time."""
    if confirms_now(order):
        _mark_paid(order, order.pay_due_at)
        order.save()


def _paid_fields(order: SandboxOrder) -> dict[str, str]:
    return {
        "openid": order.openid,
        "is_subscribe": "N",
        "trade_type": order.trade_type,
        "bank_type": "CFT",
        "fee_type": "CNY",
        "total_fee": str(order.total_fee),
        "cash_fee_type": "CNY",
        "cash_fee": str(order.total_fee),
        "transaction_id": order.transaction_id,
        "out_trade_no": order.out_trade_no,
        "attach": order.attach,
        "time_end": to_provider(order.paid_at),
    }


# --- micropay -------------------------------------------------------------------------------------


def _answer_existing_micropay(order: SandboxOrder, request: Request, digest: str) -> Outcome:
    """A micropay re-sent with the same number answers the order's current state."""
    same = (
        order.trade_type == TradeType.MICROPAY
        and order.total_fee == request.fen("total_fee")
        and order.auth_code_digest == digest
    )
    if not same:
        return BusinessFailure("OUT_TRADE_NO_USED", "商户订单号重复")
    if order.trade_state in PAID_STATES:
        return _paid_fields(order)
    if order.trade_state == "USERPAYING":
        return BusinessFailure("USERPAYING", "需要用户输入支付密码")
    if order.trade_state == "REVOKED":
        return BusinessFailure("ORDERREVERSED", "订单已撤销")
    if order.trade_state == "CLOSED":
        return BusinessFailure("ORDERCLOSED", "订单已关闭")
    return BusinessFailure(order.err_code or "SYSTEMERROR", order.trade_state_desc)


_DECLINES = {
    Scenario.NOTENOUGH: ("NOTENOUGH", "余额不足"),
    Scenario.AUTHCODEEXPIRE: ("AUTHCODEEXPIRE", "二维码已过期，请用户在微信上刷新后再试"),
}


@transaction.atomic
def micropay(request: Request) -> Outcome:
    request.require("body", "out_trade_no", "total_fee", "spbill_create_ip", "auth_code")
    request.fen("total_fee")  # refused before the number is looked up, as the provider does
    auth_code = request.get("auth_code")
    digest = ids.digest(auth_code)
    existing = _locked(request)
    if existing:
        return _answer_existing_micropay(existing, request, digest)
    scenario = scenario_for(auth_code)
    if scenario == Scenario.INVALID:
        raise BusinessFailure(
            "AUTH_CODE_INVALID", "请扫描微信支付授权码(以10/11/12/13/14/15为前缀的18位数字)"
        )
    if scenario == Scenario.NO_ANSWER:
        # Nothing is recorded or charged: the request is lost inside the provider.
        raise NoAnswer(config.no_answer_hold_seconds())
    if (
        not is_test_code(auth_code)
        and SandboxOrder.objects.filter(auth_code_digest=digest).exists()
    ):
        raise BusinessFailure("AUTH_CODE_ERROR", "101 每个二维码仅限使用一次，请刷新再试")
    order = new_micropay_order(request, scenario, timezone.now())
    try:
        with transaction.atomic():
            order.save()
    except IntegrityError:
        # A concurrent micropay with the same number won the insert.
        raise BusinessFailure("SYSTEMERROR", "系统繁忙，请稍后再试") from None
    return micropay_answer(order, scenario)


def new_micropay_order(request: Request, scenario: Scenario, now: datetime) -> SandboxOrder:
    """The ledger row of a new micropay, not yet saved (payments.sandbox.asgi inserts it too)."""
    auth_code = request.get("auth_code")
    digest = ids.digest(auth_code)
    order = SandboxOrder(
        mch_id=request.get("mch_id"),
        sub_mch_id=request.get("sub_mch_id"),
        appid=request.get("appid"),
        sub_appid=request.get("sub_appid"),
        out_trade_no=request.get("out_trade_no"),
        trade_type=TradeType.MICROPAY,
        total_fee=request.fen("total_fee"),
        body=request.get("body")[:128],
        attach=request.get("attach")[:127],
        device_info=request.get("device_info")[:32],
        auth_code_masked=mask_auth_code(auth_code),
        auth_code_digest=digest,
        scenario=scenario.value,
        openid=ids.openid_for(digest),
        sign_type=request.sign_type.value,
        created_at=now,
    )
    _start_micropay(order, scenario, now)
    return order


def _start_micropay(order: SandboxOrder, scenario: Scenario, now: datetime) -> None:
    if scenario in (Scenario.USERPAYING_THEN_PAID, Scenario.USERPAYING_FOREVER):
        order.trade_state = "USERPAYING"
        order.trade_state_desc = STATE_DESC["USERPAYING"]
        if scenario == Scenario.USERPAYING_THEN_PAID:
            order.pay_due_at = now + config.userpaying_delay()
    elif scenario in _DECLINES:
        order.trade_state = "PAYERROR"
        order.err_code, order.trade_state_desc = _DECLINES[scenario]
    else:
        _mark_paid(order, now)


def micropay_answer(order: SandboxOrder, scenario: Scenario) -> Outcome:
    if scenario == Scenario.SYSTEMERROR_PAID:
        return BusinessFailure(
            "SYSTEMERROR", "系统超时，请立即调用被扫订单结果查询API，查询当前订单状态"
        )
    if order.trade_state == "USERPAYING":
        return BusinessFailure("USERPAYING", "需要用户输入支付密码")
    if order.trade_state == "PAYERROR":
        return BusinessFailure(order.err_code, order.trade_state_desc)
    return _paid_fields(order)


# --- orderquery, reverse --------------------------------------------------------------------------


def order_not_found() -> BusinessFailure:
    return BusinessFailure("ORDERNOTEXIST", "订单不存在")


@transaction.atomic
def orderquery(request: Request) -> dict[str, str]:
    order = _locked(request)
    if order is None:
        raise order_not_found()
    return orderquery_fields(order)


def orderquery_fields(order: SandboxOrder) -> dict[str, str]:
    fields = {
        "trade_state": order.trade_state,
        "trade_state_desc": order.trade_state_desc or STATE_DESC.get(order.trade_state, ""),
        "trade_type": order.trade_type,
        "out_trade_no": order.out_trade_no,
        "total_fee": str(order.total_fee),
        "attach": order.attach,
        "device_info": order.device_info,
    }
    if order.paid_at:
        fields.update(_paid_fields(order))
    return fields


@transaction.atomic
def reverse(request: Request) -> Outcome:
    order = _locked(request)
    if order is None:
        # The provider's rule: reversing an order it never saw succeeds (POS guide).
        return {"recall": "N"}
    if order.trade_type != TradeType.MICROPAY:
        raise BusinessFailure("TRADE_ERROR", "非付款码支付订单不可撤销", recall="N")
    if timezone.now() - order.created_at > REVERSE_WINDOW:
        raise BusinessFailure("REVERSE_EXPIRE", "订单已超过可撤销时间，请走退款", recall="N")
    if order.trade_state == "USERPAYING" and order.reverse_calls < _recalls():
        # The customer is still confirming: ask the caller to reverse again.
        order.reverse_calls += 1
        order.save(update_fields=["reverse_calls"])
        return BusinessFailure("SYSTEMERROR", "用户支付中，请稍后重试撤销", recall="Y")
    if order.trade_state not in ("REVOKED", "CLOSED"):
        order.trade_state = "REVOKED"
        order.trade_state_desc = STATE_DESC["REVOKED"]
        order.revoked_at = timezone.now()
        order.reverse_calls += 1
        order.save()
    return {"recall": "N"}


def _recalls() -> int:
    from django.conf import settings

    return settings.SANDBOX_WECHATPAY_REVERSE_RECALLS


# --- native: unifiedorder, closeorder, scan -------------------------------------------------------


def _expiry(request: Request, now: datetime) -> datetime:
    if not request.get("time_expire"):
        return now + timedelta(hours=2)
    try:
        return from_provider(request.get("time_expire"))
    except ValueError:
        raise BusinessFailure("PARAM_ERROR", "time_expire时间格式错误") from None


@transaction.atomic
def unifiedorder(request: Request) -> Outcome:
    request.require(
        "body", "out_trade_no", "total_fee", "spbill_create_ip", "notify_url", "trade_type"
    )
    if request.get("trade_type") != "NATIVE":
        raise BusinessFailure("PARAM_ERROR", "沙箱仅支持trade_type=NATIVE")
    request.require("product_id")
    total_fee = request.fen("total_fee")
    existing = _locked(request)
    if existing:
        return _answer_existing_native(existing, total_fee)
    now = timezone.now()
    order = SandboxOrder.objects.create(
        mch_id=request.get("mch_id"),
        sub_mch_id=request.get("sub_mch_id"),
        appid=request.get("appid"),
        sub_appid=request.get("sub_appid"),
        out_trade_no=request.get("out_trade_no"),
        trade_type=TradeType.NATIVE,
        trade_state="NOTPAY",
        trade_state_desc=STATE_DESC["NOTPAY"],
        total_fee=total_fee,
        body=request.get("body")[:128],
        attach=request.get("attach")[:127],
        device_info=request.get("device_info")[:32],
        sign_type=request.sign_type.value,
        notify_url=request.get("notify_url")[:256],
        product_id=request.get("product_id")[:32],
        prepay_id=ids.prepay_id(now),
        code_url=ids.code_url(),
        time_expire=_expiry(request, now),
        created_at=now,
    )
    return _native_fields(order)


def _native_fields(order: SandboxOrder) -> dict[str, str]:
    return {"trade_type": "NATIVE", "prepay_id": order.prepay_id, "code_url": order.code_url}


def _answer_existing_native(order: SandboxOrder, total_fee: int) -> Outcome:
    if order.trade_type != TradeType.NATIVE or order.total_fee != total_fee:
        return BusinessFailure("OUT_TRADE_NO_USED", "商户订单号重复")
    if order.trade_state in PAID_STATES:
        return BusinessFailure("ORDERPAID", "该订单已支付")
    if order.trade_state == "CLOSED":
        return BusinessFailure("ORDERCLOSED", "该订单已关闭")
    return _native_fields(order)


@transaction.atomic
def closeorder(request: Request) -> dict[str, str]:
    request.require("out_trade_no")
    order = _locked(request)
    if order is None:
        raise BusinessFailure("ORDERNOTEXIST", "订单不存在")
    if order.trade_state in PAID_STATES:
        raise BusinessFailure("ORDERPAID", "订单已支付，不能发起关单")
    if order.trade_state in ("CLOSED", "REVOKED"):
        raise BusinessFailure("ORDERCLOSED", "订单已关闭，无法重复关闭")
    order.trade_state = "CLOSED"
    order.trade_state_desc = STATE_DESC["CLOSED"]
    order.closed_at = timezone.now()
    order.save()
    return {"result_msg": "OK"}


class ScanRefused(Exception):
    """The customer cannot pay this QR code (unknown, expired, closed or paid)."""

    def __init__(self, message: str, *, status: int):
        super().__init__(message)
        self.status = status


@transaction.atomic
def customer_scans(
    *, code_url: str = "", out_trade_no: str = "", sub_mch_id: str = ""
) -> SandboxOrder:
    """Simulate the customer scanning and paying a native QR; queue its notification.

    Locks the order; after commit, sends the notification task.
    """
    orders = SandboxOrder.objects.select_for_update().filter(trade_type=TradeType.NATIVE)
    if code_url:
        order = orders.filter(code_url=code_url).first()
    else:
        order = orders.filter(out_trade_no=out_trade_no, sub_mch_id=sub_mch_id).first()
    if order is None:
        raise ScanRefused("no such native order", status=404)
    now = timezone.now()
    if order.trade_state != "NOTPAY":
        raise ScanRefused(f"the order is {order.trade_state}", status=409)
    if order.time_expire and order.time_expire <= now:
        raise ScanRefused("the QR code has expired", status=409)
    _mark_paid(order, now)
    order.openid = ids.openid_for(f"qr-payer:{order.pk}")
    order.save()
    notification = SandboxNotification.objects.create(
        order=order, status=NotificationStatus.PENDING, next_attempt_at=now
    )
    from payments.sandbox.tasks import deliver_notification

    transaction.on_commit(lambda: deliver_notification.delay(notification.pk))
    return order

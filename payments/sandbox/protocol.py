"""Dispatch one provider request: envelope checks, the endpoint's handler, the signed answer."""

import gzip
from datetime import datetime

from payments.gateway.types import BillType
from payments.gateway.wechatpay import xmlcodec
from payments.sandbox import bills, orders, refunds
from payments.sandbox.account import SandboxAccount, account
from payments.sandbox.envelope import (
    Answer,
    BusinessFailure,
    ProtocolFailure,
    Request,
    failure_answer,
    open_request,
    protocol_failure,
    signed_answer,
)

HANDLERS = {
    "micropay": orders.micropay,
    "orderquery": orders.orderquery,
    "reverse": orders.reverse,
    "unifiedorder": orders.unifiedorder,
    "closeorder": orders.closeorder,
    "refund": refunds.refund,
    "refundquery": refunds.refundquery,
}


def handle(endpoint: str, method: str, body: bytes) -> Answer:
    sandbox = account()
    if endpoint == "report":
        # 交易保障 reports (the Java SDK sends them unasked): accepted and ignored.
        return Answer(xmlcodec.encode({"return_code": "SUCCESS", "result_code": "SUCCESS"}))
    try:
        request = open_request(method, body, sandbox, needs_appid=endpoint != "getsignkey")
    except ProtocolFailure as exc:
        return Answer(protocol_failure(str(exc)))
    if endpoint == "downloadbill":
        return download_bill(request, sandbox)
    if endpoint == "getsignkey":
        return sign_key(request, sandbox)
    try:
        check_sub_merchant(request, sandbox)
        outcome = HANDLERS[endpoint](request)
    except BusinessFailure as failure:
        outcome = failure
    except orders.NoAnswer as hold:
        # Nobody reads this answer: the caller's read timeout has passed long before.
        late = BusinessFailure("SYSTEMERROR", "系统超时")
        return Answer(failure_answer(request, sandbox, late), hold_seconds=hold.seconds)
    if isinstance(outcome, BusinessFailure):
        return Answer(failure_answer(request, sandbox, outcome))
    return Answer(signed_answer(request, sandbox, outcome))


def check_sub_merchant(request: Request, sandbox: SandboxAccount) -> None:
    if not request.get("sub_mch_id"):
        raise BusinessFailure("LACK_PARAMS", "缺少参数sub_mch_id")
    if not sandbox.accepts_sub_mch(request.get("sub_mch_id")):
        raise BusinessFailure("NOAUTH", "特约商户号未授权服务商")


def _bill_error(message: str, error_code: str = "") -> Answer:
    fields = {"return_code": "FAIL", "return_msg": message}
    if error_code:
        fields["error_code"] = error_code
    return Answer(xmlcodec.encode(fields))


def download_bill(request: Request, sandbox: SandboxAccount) -> Answer:
    """Serve the day's bill as the provider does: raw CSV (or gzip), XML only on errors."""
    try:
        day = datetime.strptime(request.get("bill_date"), "%Y%m%d").date()
    except ValueError:
        return _bill_error("invalid bill_date", "20001")
    try:
        bill_type = BillType(request.get("bill_type") or "ALL")
    except ValueError:
        return _bill_error("invalid bill_type", "20001")
    if day > bills.today():
        return _bill_error("invalid bill_date", "20001")
    scope = {"mch_id": sandbox.mch_id, "sub_mch_id": request.get("sub_mch_id")}
    if not bills.had_activity(day, **scope):
        return _bill_error("No Bill Exist", "20002")
    text = bills.render(day, bill_type, **scope)
    if request.get("tar_type") == "GZIP":
        return Answer(gzip.compress(text.encode()), content_type="application/x-gzip")
    return Answer(text.encode(), content_type="text/plain; charset=utf-8")


def sign_key(request: Request, sandbox: SandboxAccount) -> Answer:
    """The old SDK sandbox handshake: the sandbox signs with the dev key itself (public)."""
    fields = {
        "return_code": "SUCCESS",
        "return_msg": "ok",
        "mch_id": sandbox.mch_id,
        "sandbox_signkey": sandbox.api_key,
    }
    return Answer(xmlcodec.encode(fields))

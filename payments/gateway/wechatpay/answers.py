"""Read verified answers into typed results; inconsistent answers raise MalformedResponse."""

from datetime import datetime

from payments.gateway.errors import MalformedResponse
from payments.gateway.types import (
    MicropayOutcome,
    MicropayRequest,
    MicropayResult,
    NativeOrderResult,
    OrderQueryResult,
    RefundItem,
    RefundQueryResult,
    RefundRequest,
    RefundResult,
    RefundStatus,
    ReverseResult,
    TradeState,
)
from payments.gateway.wechatpay.money import parse_fen
from payments.gateway.wechatpay.outcomes import micropay_outcome
from payments.gateway.wechatpay.timefmt import from_provider


def common(answer: dict[str, str]) -> dict:
    public = {k: v for k, v in answer.items() if k != "sign"}
    return {
        "ok": answer["result_code"] == "SUCCESS",
        "err_code": answer.get("err_code", ""),
        "err_code_des": answer.get("err_code_des", ""),
        "fields": public,
    }


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return from_provider(value)
    except ValueError:
        raise MalformedResponse(f"time {value!r} is not yyyyMMddHHmmss") from None


def micropay(answer: dict[str, str], request: MicropayRequest) -> MicropayResult:
    base = common(answer)
    if not base["ok"]:
        outcome = micropay_outcome(base["err_code"])
        return MicropayResult(**base, outcome=outcome, out_trade_no=request.out_trade_no)
    # Paid only when the answer is about this order, for this amount, with a provider id.
    if answer.get("out_trade_no") != request.out_trade_no:
        raise MalformedResponse("a paid micropay answer for another out_trade_no")
    total_fee = parse_fen(answer.get("total_fee"))
    if total_fee != request.total_fee:
        raise MalformedResponse(f"a paid micropay answer with total_fee {total_fee}")
    if not answer.get("transaction_id"):
        raise MalformedResponse("a paid micropay answer without transaction_id")
    return MicropayResult(
        **base,
        outcome=MicropayOutcome.PAID,
        out_trade_no=request.out_trade_no,
        transaction_id=answer["transaction_id"],
        total_fee=total_fee,
        cash_fee=parse_fen(answer.get("cash_fee")),
        time_end=_time(answer.get("time_end")),
        openid=answer.get("openid", ""),
        bank_type=answer.get("bank_type", ""),
    )


def order_query(
    answer: dict[str, str], out_trade_no: str, expected_total_fee: int | None
) -> OrderQueryResult:
    base = common(answer)
    if not base["ok"]:
        return OrderQueryResult(**base, trade_state=None, out_trade_no=out_trade_no)
    try:
        state = TradeState(answer.get("trade_state", ""))
    except ValueError:
        raise MalformedResponse(f"unknown trade_state {answer.get('trade_state')!r}") from None
    if answer.get("out_trade_no") != out_trade_no:
        raise MalformedResponse("an orderquery answer for another out_trade_no")
    total_fee = parse_fen(answer.get("total_fee"))
    if state in (TradeState.SUCCESS, TradeState.REFUND):
        if not answer.get("transaction_id") or total_fee is None:
            raise MalformedResponse("a paid order without transaction_id or total_fee")
        if expected_total_fee is not None and total_fee != expected_total_fee:
            raise MalformedResponse(f"paid {total_fee} fen, expected {expected_total_fee}")
    return OrderQueryResult(
        **base,
        trade_state=state,
        out_trade_no=out_trade_no,
        trade_state_desc=answer.get("trade_state_desc", ""),
        trade_type=answer.get("trade_type", ""),
        transaction_id=answer.get("transaction_id", ""),
        total_fee=total_fee,
        cash_fee=parse_fen(answer.get("cash_fee")),
        time_end=_time(answer.get("time_end")),
    )


def reverse(answer: dict[str, str]) -> ReverseResult:
    recall = answer.get("recall", "N")
    if recall not in ("Y", "N"):
        raise MalformedResponse(f"recall is {recall!r}")
    return ReverseResult(**common(answer), recall=recall == "Y")


def native_order(answer: dict[str, str]) -> NativeOrderResult:
    base = common(answer)
    if base["ok"] and not (answer.get("code_url") and answer.get("prepay_id")):
        raise MalformedResponse("a native order without code_url or prepay_id")
    return NativeOrderResult(
        **base, prepay_id=answer.get("prepay_id", ""), code_url=answer.get("code_url", "")
    )


def refund(answer: dict[str, str], request: RefundRequest) -> RefundResult:
    base = common(answer)
    if base["ok"]:
        if answer.get("out_refund_no") != request.out_refund_no:
            raise MalformedResponse("a refund answer for another out_refund_no")
        if parse_fen(answer.get("refund_fee")) != request.refund_fee:
            raise MalformedResponse("a refund answer for another amount")
    return RefundResult(
        **base,
        out_refund_no=request.out_refund_no,
        refund_id=answer.get("refund_id", ""),
        refund_fee=parse_fen(answer.get("refund_fee")),
    )


def _refund_item(answer: dict[str, str], n: int) -> RefundItem:
    try:
        status = RefundStatus(answer.get(f"refund_status_{n}", ""))
    except ValueError:
        raise MalformedResponse(f"refund_status_{n} is not a refund status") from None
    fee = parse_fen(answer.get(f"refund_fee_{n}"))
    if fee is None or not answer.get(f"out_refund_no_{n}"):
        raise MalformedResponse(f"refund {n} lacks out_refund_no or refund_fee")
    return RefundItem(
        out_refund_no=answer[f"out_refund_no_{n}"],
        refund_id=answer.get(f"refund_id_{n}", ""),
        refund_fee=fee,
        status=status,
        success_time=_bill_time(answer.get(f"refund_success_time_{n}")),
    )


def _bill_time(value: str | None) -> datetime | None:
    # refund_success_time is "yyyy-MM-dd HH:mm:ss" (Beijing), unlike the API's other times.
    if not value:
        return None
    try:
        return from_provider(value.replace("-", "").replace(":", "").replace(" ", ""))
    except ValueError:
        raise MalformedResponse(f"refund time {value!r} is malformed") from None


def refund_query(answer: dict[str, str]) -> RefundQueryResult:
    base = common(answer)
    if not base["ok"]:
        return RefundQueryResult(**base)
    count = parse_fen(answer.get("refund_count"))
    if count is None:
        raise MalformedResponse("refundquery without refund_count")
    return RefundQueryResult(
        **base,
        out_trade_no=answer.get("out_trade_no", ""),
        transaction_id=answer.get("transaction_id", ""),
        total_fee=parse_fen(answer.get("total_fee")),
        total_refund_count=parse_fen(answer.get("total_refund_count")),
        refunds=tuple(_refund_item(answer, n) for n in range(count)),
    )

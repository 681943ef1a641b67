"""Trade bills (downloadbill): the ALL / SUCCESS / REFUND CSV formats, parsed and rendered.

Layout: a header line, detail lines, the summary header (starting 总交易单数) and the summary line.
Every detail and summary value starts with a backtick, headers have none; amounts are yuan.
Values are split on ",`" so that a comma inside a product name does not shift the columns.
"""

import gzip
import zlib
from collections.abc import Iterable
from datetime import date, datetime

import httpx

from payments.gateway.errors import (
    BillNotReady,
    GatewayUnavailable,
    MalformedResponse,
    ProviderRejected,
)
from payments.gateway.recording import CallRecord
from payments.gateway.types import Bill, BillRow, BillSummary, BillType
from payments.gateway.wechatpay import xmlcodec
from payments.gateway.wechatpay.money import fen_to_yuan, yuan_to_fen
from payments.gateway.wechatpay.redaction import redact
from payments.gateway.wechatpay.timefmt import BEIJING

TEXT, FEN, TIME = "text", "fen", "time"

# Column name -> (BillRow attribute, kind); old 24-column names map onto the same attributes.
COLUMNS: dict[str, tuple[str, str]] = {
    "交易时间": ("trade_time", TIME),
    "公众账号ID": ("appid", TEXT),
    "商户号": ("mch_id", TEXT),
    "特约商户号": ("sub_mch_id", TEXT),
    "子商户号": ("sub_mch_id", TEXT),
    "设备号": ("device_info", TEXT),
    "微信订单号": ("transaction_id", TEXT),
    "商户订单号": ("out_trade_no", TEXT),
    "用户标识": ("openid", TEXT),
    "交易类型": ("trade_type", TEXT),
    "交易状态": ("trade_state", TEXT),
    "付款银行": ("bank_type", TEXT),
    "货币种类": ("currency", TEXT),
    "应结订单金额": ("settlement_total_fee", FEN),
    "总金额": ("settlement_total_fee", FEN),
    "代金券金额": ("coupon_fee", FEN),
    "代金券或立减优惠金额": ("coupon_fee", FEN),
    "微信退款单号": ("refund_id", TEXT),
    "商户退款单号": ("out_refund_no", TEXT),
    "退款金额": ("refund_fee", FEN),
    "充值券退款金额": ("coupon_refund_fee", FEN),
    "代金券或立减优惠退款金额": ("coupon_refund_fee", FEN),
    "退款类型": ("refund_type", TEXT),
    "退款状态": ("refund_status", TEXT),
    "商品名称": ("body", TEXT),
    "商户数据包": ("attach", TEXT),
    "手续费": ("fee", FEN),
    "费率": ("rate", TEXT),
    "订单金额": ("total_fee", FEN),
    "申请退款金额": ("apply_refund_fee", FEN),
    "费率备注": ("rate_note", TEXT),
    "退款申请时间": ("refund_apply_time", TIME),
    "退款成功时间": ("refund_success_time", TIME),
}


def _names(joined: str) -> list[str]:
    return joined.split(",")


_HEAD = _names(
    "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,"
    "付款银行,货币种类,应结订单金额,代金券金额"
)
_REFUND_COLUMNS = "微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态"
_TAIL = "商品名称,商户数据包,手续费,费率,订单金额"
HEADERS: dict[BillType, list[str]] = {
    BillType.ALL: [*_HEAD, *_names(f"{_REFUND_COLUMNS},{_TAIL},申请退款金额,费率备注")],
    BillType.SUCCESS: [*_HEAD, *_names(f"{_TAIL},费率备注")],
    BillType.REFUND: [
        *_HEAD,
        *_names(f"退款申请时间,退款成功时间,{_REFUND_COLUMNS},{_TAIL},申请退款金额,费率备注"),
    ],
}
SUMMARY_HEADERS: dict[BillType, list[str]] = {
    BillType.ALL: _names(
        "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额"
    ),
    BillType.SUCCESS: _names("总交易单数,应结订单总金额,手续费总金额,订单总金额"),
}
SUMMARY_HEADERS[BillType.REFUND] = SUMMARY_HEADERS[BillType.ALL]

SUMMARY_COLUMNS: dict[str, str] = {
    "总交易单数": "count",
    "应结订单总金额": "settlement_total",
    "总交易额": "settlement_total",
    "退款总金额": "refund_total",
    "总退款金额": "refund_total",
    "充值券退款总金额": "coupon_refund_total",
    "总代金券或立减优惠退款金额": "coupon_refund_total",
    "手续费总金额": "fee_total",
    "订单总金额": "order_total",
    "申请退款总金额": "apply_refund_total",
}
_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


# --- Parsing --------------------------------------------------------------------------------------


def _values(line: str) -> list[str]:
    if not line.startswith("`"):
        raise MalformedResponse(f"a bill line without the backtick prefix: {line[:40]!r}")
    return line[1:].split(",`")


def _convert(value: str, kind: str) -> object:
    if kind == FEN:
        return yuan_to_fen(value) if value else 0
    if kind == TIME:
        if not value:
            return None
        return datetime.strptime(value, _TIME_FORMAT).replace(tzinfo=BEIJING)
    return value


def _row(header: list[str], line: str) -> BillRow:
    values = _values(line)
    if len(values) != len(header):
        raise MalformedResponse(f"a bill line with {len(values)} of {len(header)} columns")
    attributes: dict[str, object] = {}
    for name, value in zip(header, values, strict=True):
        if name in COLUMNS:
            attribute, kind = COLUMNS[name]
            attributes[attribute] = _convert(value, kind)
    if attributes.get("trade_time") is None:
        raise MalformedResponse("a bill line without 交易时间")
    return BillRow(**attributes)


def _summary(header: list[str], line: str) -> BillSummary:
    values = _values(line)
    if len(values) != len(header):
        raise MalformedResponse("the bill summary does not match its header")
    attributes: dict[str, int] = {}
    for name, value in zip(header, values, strict=True):
        if name == "总交易单数":
            attributes["count"] = int(value)
        elif name in SUMMARY_COLUMNS:
            attributes[SUMMARY_COLUMNS[name]] = yuan_to_fen(value)
    if "count" not in attributes or "settlement_total" not in attributes:
        raise MalformedResponse("the bill summary lacks 总交易单数 or the settlement total")
    return BillSummary(**attributes)


def parse_bill(text: str, *, bill_date: date, bill_type: BillType) -> Bill:
    """Parse a bill in any of the formats; the summary's line count must match the rows."""
    lines = [line.strip() for line in text.lstrip("\ufeff").splitlines() if line.strip()]
    split = next((i for i, line in enumerate(lines) if line.startswith("总交易单数")), None)
    if not lines or split is None or split + 1 >= len(lines):
        raise MalformedResponse("the bill has no summary (总交易单数)")
    header = lines[0].split(",")
    if not {"交易时间", "商户订单号", "交易状态"} <= set(header):
        raise MalformedResponse("the bill header is not a trade bill header")
    try:
        rows = tuple(_row(header, line) for line in lines[1:split])
        summary = _summary(lines[split].split(","), lines[split + 1])
    except ValueError as exc:
        raise MalformedResponse(f"a bill value is malformed: {exc}") from None
    if summary.count != len(rows):
        raise MalformedResponse(f"the bill has {len(rows)} lines, its summary says {summary.count}")
    return Bill(bill_date=bill_date, bill_type=bill_type, exists=True, rows=rows, summary=summary)


def bill_from_response(
    response: httpx.Response, bill_date: date, bill_type: BillType, record: CallRecord
) -> Bill:
    """Read a downloadbill answer: raw CSV (maybe gzip) on success, unsigned XML on error."""
    if response.status_code >= 500:
        raise GatewayUnavailable(
            f"provider answered HTTP {response.status_code}", http_status=response.status_code
        )
    if response.status_code != 200:
        raise MalformedResponse(f"provider answered HTTP {response.status_code}")
    content = response.content
    if content[:2] == b"\x1f\x8b":
        try:
            content = gzip.decompress(content)
        except (OSError, EOFError, zlib.error):
            raise MalformedResponse("the gzip bill cannot be decompressed") from None
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedResponse("the bill is not UTF-8") from None
    if text.lstrip().startswith("<"):
        return _bill_error(text, bill_date, bill_type, record)
    bill = parse_bill(text, bill_date=bill_date, bill_type=bill_type)
    record.response_fields = {"return_code": "SUCCESS", "rows": str(len(bill.rows))}
    return bill


def _bill_error(text: str, bill_date: date, bill_type: BillType, record: CallRecord) -> Bill:
    try:
        answer = xmlcodec.decode(text)
    except xmlcodec.XmlError as exc:
        raise MalformedResponse(f"downloadbill answered neither a bill nor XML: {exc}") from None
    record.response_fields = redact(answer)
    message = answer.get("return_msg", "")
    if message.lower() == "no bill exist":
        return Bill(bill_date=bill_date, bill_type=bill_type, exists=False)
    if message.lower() == "bill creating":
        raise BillNotReady(message, fields=answer)
    raise ProviderRejected(message, fields=answer)


# --- Rendering (the sandbox serves bills with it) -------------------------------------------------


def bill_totals(rows: Iterable[BillRow]) -> BillSummary:
    rows = list(rows)
    return BillSummary(
        count=len(rows),
        settlement_total=sum(r.settlement_total_fee for r in rows),
        refund_total=sum(r.refund_fee for r in rows),
        coupon_refund_total=sum(r.coupon_refund_fee for r in rows),
        fee_total=sum(r.fee for r in rows),
        order_total=sum(r.total_fee or 0 for r in rows),
        apply_refund_total=sum(r.apply_refund_fee or 0 for r in rows),
    )


def _render_value(value: object, kind: str) -> str:
    if kind == FEN:
        return fen_to_yuan(int(value or 0))  # type: ignore[call-overload]
    if kind == TIME:
        return value.astimezone(BEIJING).strftime(_TIME_FORMAT) if value else ""  # type: ignore[union-attr]
    # A backtick or line break inside a value would break the line format.
    return str(value).replace("`", "'").replace("\r", " ").replace("\n", " ")


def render_bill(rows: Iterable[BillRow], bill_type: BillType) -> str:
    rows = list(rows)
    header = HEADERS[bill_type]
    lines = [",".join(header)]
    for row in rows:
        values = []
        for name in header:
            attribute, kind = COLUMNS[name]
            values.append("`" + _render_value(getattr(row, attribute), kind))
        lines.append(",".join(values))
    summary = bill_totals(rows)
    summary_header = SUMMARY_HEADERS[bill_type]
    lines.append(",".join(summary_header))
    summary_values = []
    for name in summary_header:
        value = getattr(summary, SUMMARY_COLUMNS[name])
        summary_values.append("`" + (str(value) if name == "总交易单数" else fen_to_yuan(value)))
    lines.append(",".join(summary_values))
    return "\r\n".join(lines) + "\r\n"

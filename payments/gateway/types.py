"""Typed requests and results of the provider interface (amounts in integer fen)."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from payments.gateway.authcode import mask_auth_code


class TradeState(StrEnum):
    SUCCESS = "SUCCESS"
    REFUND = "REFUND"
    NOTPAY = "NOTPAY"
    CLOSED = "CLOSED"
    REVOKED = "REVOKED"
    USERPAYING = "USERPAYING"
    PAYERROR = "PAYERROR"
    ACCEPT = "ACCEPT"

    @property
    def final(self) -> bool:
        return self not in (TradeState.NOTPAY, TradeState.USERPAYING, TradeState.ACCEPT)


class RefundStatus(StrEnum):
    SUCCESS = "SUCCESS"
    REFUNDCLOSE = "REFUNDCLOSE"
    PROCESSING = "PROCESSING"
    CHANGE = "CHANGE"


class MicropayOutcome(StrEnum):
    """What a micropay answer means for the payment (reference §5.3)."""

    PAID = "paid"
    PENDING = "pending"  # USERPAYING: customer confirming; poll orderquery
    UNKNOWN = "unknown"  # SYSTEMERROR, BANKERROR, unlisted codes: poll orderquery
    DECLINED = "declined"  # confirmed failure, no money moved; a retry needs a new out_trade_no
    ORDER_CONFLICT = "order_conflict"  # ORDERPAID / OUT_TRADE_NO_USED: orderquery decides
    REJECTED = "rejected"  # configuration or request error: no order was created


class BillType(StrEnum):
    ALL = "ALL"
    SUCCESS = "SUCCESS"
    REFUND = "REFUND"


@dataclass(frozen=True, slots=True)
class SubMerchant:
    """Service-provider mode routing: the merchant's provider-assigned ids."""

    sub_mch_id: str
    sub_appid: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MicropayRequest:
    merchant: SubMerchant
    out_trade_no: str
    total_fee: int
    body: str
    # The customer's one-time payment code: kept out of repr so it never reaches a log line.
    auth_code: str = field(repr=False)
    spbill_create_ip: str
    device_info: str | None = None
    attach: str | None = None
    goods_tag: str | None = None
    time_expire: datetime | None = None

    @property
    def auth_code_masked(self) -> str:
        return mask_auth_code(self.auth_code)


@dataclass(frozen=True, slots=True, kw_only=True)
class NativeOrderRequest:
    merchant: SubMerchant
    out_trade_no: str
    total_fee: int
    body: str
    product_id: str
    spbill_create_ip: str
    notify_url: str | None = None  # None: the client's configured notify URL
    time_expire: datetime | None = None
    device_info: str | None = None
    attach: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RefundRequest:
    merchant: SubMerchant
    out_trade_no: str
    out_refund_no: str
    total_fee: int
    refund_fee: int
    refund_desc: str | None = None
    notify_url: str | None = None


@dataclass(frozen=True, kw_only=True)
class ProviderResult:
    """A verified answer with return_code=SUCCESS; `ok` is result_code=SUCCESS."""

    ok: bool
    err_code: str = ""
    err_code_des: str = ""
    fields: Mapping[str, str] = field(default_factory=dict, repr=False)


@dataclass(frozen=True, kw_only=True)
class MicropayResult(ProviderResult):
    outcome: MicropayOutcome
    out_trade_no: str
    transaction_id: str = ""
    total_fee: int | None = None
    cash_fee: int | None = None
    time_end: datetime | None = None
    openid: str = ""
    bank_type: str = ""


@dataclass(frozen=True, kw_only=True)
class OrderQueryResult(ProviderResult):
    """trade_state is None when the query itself failed (ORDERNOTEXIST, SYSTEMERROR…)."""

    trade_state: TradeState | None
    out_trade_no: str
    trade_state_desc: str = ""
    trade_type: str = ""
    transaction_id: str = ""
    total_fee: int | None = None
    cash_fee: int | None = None
    time_end: datetime | None = None

    @property
    def order_missing(self) -> bool:
        return self.err_code == "ORDERNOTEXIST"


@dataclass(frozen=True, kw_only=True)
class ReverseResult(ProviderResult):
    """recall=True: call reverse again (the provider could not finish it yet)."""

    recall: bool


@dataclass(frozen=True, kw_only=True)
class NativeOrderResult(ProviderResult):
    prepay_id: str = ""
    code_url: str = ""


@dataclass(frozen=True, kw_only=True)
class CloseOrderResult(ProviderResult):
    pass


@dataclass(frozen=True, kw_only=True)
class RefundResult(ProviderResult):
    """ok means accepted, not refunded: follow with refundquery."""

    out_refund_no: str
    refund_id: str = ""
    refund_fee: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RefundItem:
    out_refund_no: str
    refund_id: str
    refund_fee: int
    status: RefundStatus
    success_time: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class RefundQueryResult(ProviderResult):
    out_trade_no: str = ""
    transaction_id: str = ""
    total_fee: int | None = None
    total_refund_count: int | None = None
    refunds: tuple[RefundItem, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class BillRow:
    """One detail line of a trade bill (new or old format), amounts converted to fen."""

    trade_time: datetime
    appid: str
    mch_id: str
    sub_mch_id: str
    device_info: str
    transaction_id: str
    out_trade_no: str
    openid: str
    trade_type: str
    trade_state: str
    bank_type: str
    currency: str
    settlement_total_fee: int
    coupon_fee: int
    body: str = ""
    attach: str = ""
    fee: int = 0
    rate: str = ""
    total_fee: int | None = None
    refund_id: str = ""
    out_refund_no: str = ""
    refund_fee: int = 0
    coupon_refund_fee: int = 0
    refund_type: str = ""
    refund_status: str = ""
    apply_refund_fee: int | None = None
    rate_note: str = ""
    refund_apply_time: datetime | None = None
    refund_success_time: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class BillSummary:
    count: int
    settlement_total: int
    refund_total: int | None = None
    coupon_refund_total: int | None = None
    fee_total: int = 0
    order_total: int | None = None
    apply_refund_total: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Bill:
    """A downloaded trade bill; exists=False is the provider's "No Bill Exist" (an empty day)."""

    bill_date: date
    bill_type: BillType
    exists: bool
    rows: tuple[BillRow, ...] = ()
    summary: BillSummary | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PaymentNotification:
    """A verified payment notification (only successful payments are notified)."""

    ok: bool
    out_trade_no: str
    transaction_id: str
    total_fee: int
    sub_mch_id: str
    trade_type: str
    time_end: datetime | None
    cash_fee: int | None = None
    openid: str = ""
    err_code: str = ""
    fields: Mapping[str, str] = field(default_factory=dict, repr=False)

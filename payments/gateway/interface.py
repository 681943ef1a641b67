"""The provider interface the platform programs against; WeChat Pay v2 is its implementation.

Every method either returns a verified result (result_code SUCCESS or FAIL, see `ok` and
`err_code`) or raises a GatewayError: OutcomeUnknown (GatewayUnavailable, MalformedResponse,
SignatureInvalid) when the provider's answer is missing or untrustworthy, ProviderRejected for
return_code=FAIL.
"""

from datetime import date
from typing import Protocol

from payments.gateway.types import (
    Bill,
    BillType,
    CloseOrderResult,
    MicropayRequest,
    MicropayResult,
    NativeOrderRequest,
    NativeOrderResult,
    OrderQueryResult,
    PaymentNotification,
    RefundQueryResult,
    RefundRequest,
    RefundResult,
    ReverseResult,
    SubMerchant,
)


class PaymentGateway(Protocol):
    def micropay(self, request: MicropayRequest) -> MicropayResult: ...

    def order_query(
        self, *, merchant: SubMerchant, out_trade_no: str, expected_total_fee: int | None = None
    ) -> OrderQueryResult: ...

    def reverse(self, *, merchant: SubMerchant, out_trade_no: str) -> ReverseResult: ...

    def native_order(self, request: NativeOrderRequest) -> NativeOrderResult: ...

    def close_order(self, *, merchant: SubMerchant, out_trade_no: str) -> CloseOrderResult: ...

    def refund(self, request: RefundRequest) -> RefundResult: ...

    def refund_query(
        self, *, merchant: SubMerchant, out_refund_no: str | None = None,
        out_trade_no: str | None = None, offset: int | None = None,
    ) -> RefundQueryResult: ...  # fmt: skip

    def download_bill(
        self, *, bill_date: date, bill_type: BillType = BillType.ALL,
        merchant: SubMerchant | None = None,
    ) -> Bill: ...  # fmt: skip

    def parse_notification(self, body: bytes) -> PaymentNotification: ...

    def notification_ack(self, *, ok: bool = True, message: str = "OK") -> bytes: ...

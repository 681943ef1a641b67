"""The payment provider gateway: one interface, the WeChat Pay v2 client behind it.

Build the platform's client with `get_gateway()` (settings WECHATPAY_*), or a client for a stored
account with `client_for_account(account)`.
"""

from functools import cache

from payments.gateway.errors import (
    BillNotReady,
    GatewayError,
    GatewayUnavailable,
    ImproperlyConfiguredGateway,
    MalformedResponse,
    OutcomeUnknown,
    ProviderRejected,
    SignatureInvalid,
)
from payments.gateway.interface import PaymentGateway
from payments.gateway.types import (
    Bill,
    BillRow,
    BillSummary,
    BillType,
    CloseOrderResult,
    MicropayOutcome,
    MicropayRequest,
    MicropayResult,
    NativeOrderRequest,
    NativeOrderResult,
    OrderQueryResult,
    PaymentNotification,
    RefundItem,
    RefundQueryResult,
    RefundRequest,
    RefundResult,
    RefundStatus,
    ReverseResult,
    SubMerchant,
    TradeState,
)


@cache
def get_gateway() -> PaymentGateway:
    """The platform's provider client, built once per process from settings."""
    from payments.gateway.wechatpay.client import WeChatPayClient
    from payments.gateway.wechatpay.config import config_from_settings

    return WeChatPayClient(config_from_settings())


def client_for_account(account) -> PaymentGateway:
    """A client for a stored ProviderAccount (payments.models); the caller closes it."""
    from payments.gateway.wechatpay.client import WeChatPayClient
    from payments.gateway.wechatpay.config import WeChatPayConfig
    from payments.gateway.wechatpay.signing import SignType

    return WeChatPayClient(
        WeChatPayConfig(
            appid=account.appid,
            mch_id=account.mch_id,
            api_key=account.api_key,
            base_url=account.base_url,
            sign_type=SignType(account.sign_type),
            cert_path=account.cert_path or None,
            key_path=account.key_path or None,
            notify_url=account.notify_url,
        )
    )


__all__ = [
    "Bill", "BillNotReady", "BillRow", "BillSummary", "BillType", "CloseOrderResult",
    "GatewayError", "GatewayUnavailable", "ImproperlyConfiguredGateway", "MalformedResponse",
    "MicropayOutcome", "MicropayRequest", "MicropayResult", "NativeOrderRequest",
    "NativeOrderResult", "OrderQueryResult", "OutcomeUnknown", "PaymentGateway",
    "PaymentNotification", "ProviderRejected", "RefundItem", "RefundQueryResult",
    "RefundRequest", "RefundResult", "RefundStatus", "ReverseResult", "SignatureInvalid",
    "SubMerchant", "TradeState", "client_for_account", "get_gateway",
]  # fmt: skip

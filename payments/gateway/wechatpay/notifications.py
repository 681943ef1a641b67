"""Payment notifications: verify and read them, and answer in the provider's XML."""

from payments.gateway.errors import MalformedResponse, ProviderRejected, SignatureInvalid
from payments.gateway.types import PaymentNotification
from payments.gateway.wechatpay import xmlcodec
from payments.gateway.wechatpay.config import WeChatPayConfig
from payments.gateway.wechatpay.money import parse_fen
from payments.gateway.wechatpay.signing import SignType, sign_type_of, verify
from payments.gateway.wechatpay.timefmt import from_provider


def parse(
    body: bytes, config: WeChatPayConfig, *, sign_type: SignType | None = None
) -> PaymentNotification:
    """Verify a notification's signature and ids; return its payment facts.

    Notifications of HMAC-SHA256 orders usually omit sign_type, so an absent field means the
    algorithm the orders were created with (the account's), not MD5.
    """
    try:
        fields = xmlcodec.decode(body)
    except xmlcodec.XmlError as exc:
        raise MalformedResponse(f"the notification is not XML: {exc}") from None
    if fields.get("return_code") != "SUCCESS":
        raise ProviderRejected(fields.get("return_msg", ""), fields=fields)
    try:
        algorithm = sign_type or sign_type_of(fields.get("sign_type"), config.sign_type)
    except ValueError:
        raise MalformedResponse(f"unknown sign_type {fields.get('sign_type')!r}") from None
    if not verify(fields, config.api_key, algorithm):
        raise SignatureInvalid("the notification's signature does not verify")
    if fields.get("appid") != config.appid or fields.get("mch_id") != config.mch_id:
        raise MalformedResponse("the notification is for another appid or mch_id")
    total_fee = parse_fen(fields.get("total_fee"))
    required = ("out_trade_no", "transaction_id", "sub_mch_id", "result_code")
    if total_fee is None or not all(fields.get(name) for name in required):
        raise MalformedResponse("the notification lacks order fields")
    try:
        time_end = from_provider(fields["time_end"]) if fields.get("time_end") else None
    except ValueError:
        raise MalformedResponse("the notification's time_end is malformed") from None
    return PaymentNotification(
        ok=fields["result_code"] == "SUCCESS",
        out_trade_no=fields["out_trade_no"],
        transaction_id=fields["transaction_id"],
        total_fee=total_fee,
        sub_mch_id=fields["sub_mch_id"],
        trade_type=fields.get("trade_type", ""),
        time_end=time_end,
        cash_fee=parse_fen(fields.get("cash_fee")),
        openid=fields.get("openid", ""),
        err_code=fields.get("err_code", ""),
        fields={k: v for k, v in fields.items() if k != "sign"},
    )


def ack(*, ok: bool = True, message: str = "OK") -> bytes:
    """The acknowledgement the provider expects: XML only, return_code first."""
    code = "SUCCESS" if ok else "FAIL"
    return (
        f"<xml><return_code><![CDATA[{code}]]></return_code>"
        f"<return_msg><![CDATA[{message.replace(']]>', '')}]]></return_msg></xml>"
    ).encode()


def is_ack(body: bytes) -> bool:
    """Whether a notify_url answer acknowledges the notification (the sandbox's rule)."""
    try:
        return xmlcodec.decode(body.strip()).get("return_code") == "SUCCESS"
    except xmlcodec.XmlError:
        return False

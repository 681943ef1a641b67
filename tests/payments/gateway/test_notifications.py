"""Notifications: signed ones parse back to their facts, anything else is refused."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payments.gateway import MalformedResponse, ProviderRejected, SignatureInvalid
from payments.gateway.wechatpay import xmlcodec
from payments.gateway.wechatpay.config import WeChatPayConfig
from payments.gateway.wechatpay.notifications import ack, is_ack, parse
from payments.gateway.wechatpay.signing import SignType, sign

KEY = "0123456789abcdef0123456789abcdef"
CONFIG = WeChatPayConfig(
    appid="wxappid0000000001", mch_id="1230000109", api_key=KEY, sign_type=SignType.HMAC_SHA256
)
digits = st.text(alphabet="0123456789", min_size=1, max_size=28)
numbers = st.from_regex(r"[0-9A-Za-z_\-|*@]{1,32}", fullmatch=True)


def notification(algorithm: SignType = SignType.HMAC_SHA256, **fields: str) -> bytes:
    body = {
        "return_code": "SUCCESS",
        "appid": CONFIG.appid,
        "mch_id": CONFIG.mch_id,
        "sub_mch_id": "1900000109",
        "nonce_str": "n0nce",
        "result_code": "SUCCESS",
        "trade_type": "NATIVE",
        "transaction_id": "4200000000000000000000000001",
        "out_trade_no": "N1",
        "total_fee": "880",
        "time_end": "20261125120000",
        **fields,
    }
    body["sign"] = sign(body, KEY, algorithm)
    return xmlcodec.encode(body)


@given(out_trade_no=numbers, transaction_id=digits, total_fee=st.integers(1, 10**9))
def test_signed_notifications_parse_back(out_trade_no, transaction_id, total_fee):
    body = notification(
        out_trade_no=out_trade_no, transaction_id=transaction_id, total_fee=str(total_fee)
    )
    parsed = parse(body, CONFIG)
    assert (parsed.out_trade_no, parsed.transaction_id, parsed.total_fee) == (
        out_trade_no,
        transaction_id,
        total_fee,
    )
    assert parsed.ok and parsed.sub_mch_id == "1900000109"


def test_a_sign_type_field_is_honoured():
    assert parse(notification(SignType.MD5, sign_type="MD5"), CONFIG).ok


def test_without_sign_type_the_accounts_algorithm_applies():
    with pytest.raises(SignatureInvalid):
        parse(notification(SignType.MD5), CONFIG)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"not xml", MalformedResponse),
        (xmlcodec.encode({"return_code": "FAIL", "return_msg": "x"}), ProviderRejected),
        (notification(mch_id="999"), MalformedResponse),
        (notification(total_fee="8.80"), MalformedResponse),
        (notification(time_end="yesterday"), MalformedResponse),
        (notification(sign_type="SHA1"), MalformedResponse),
        (notification().replace(b"880", b"881"), SignatureInvalid),
    ],
    ids=["html", "fail", "other-mch", "yuan", "bad-time", "odd-sign-type", "tampered"],
)
def test_untrusted_notifications_are_refused(body, error):
    with pytest.raises(error):
        parse(body, CONFIG)


def test_only_the_xml_success_answer_is_an_ack():
    assert is_ack(ack())
    assert not is_ack(ack(ok=False, message="busy"))
    assert not is_ack(b"success")
    assert not is_ack(b"")

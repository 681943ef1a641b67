"""The client refuses every answer it cannot trust: unknown outcome, never paid.

Every test runs twice: from a thread (`micropay`) and from the event loop (`micropay_on_loop`,
whose caller stores the call's record; payments.services.till_micropay).
"""

import asyncio

import pytest

from payments.gateway import (
    GatewayUnavailable,
    MalformedResponse,
    MicropayOutcome,
    MicropayRequest,
    OutcomeUnknown,
    ProviderRejected,
    SignatureInvalid,
    SubMerchant,
)
from payments.gateway.errors import GatewayError
from payments.gateway.recording import record_to_database
from payments.gateway.wechatpay import xmlcodec
from payments.gateway.wechatpay.client import WeChatPayClient
from payments.gateway.wechatpay.config import WeChatPayConfig
from payments.gateway.wechatpay.signing import SignType, sign
from payments.models import GatewayCall
from tests.conftest import free_port
from tests.payments.scripted_provider import Reply, scripted_provider

KEY = "0123456789abcdef0123456789abcdef"
MERCHANT = SubMerchant(sub_mch_id="1900000109")
AUTH_CODE = "134512345678901234"

pytestmark = pytest.mark.django_db


def client_for(base_url: str, *, read_timeout: float = 5.0) -> WeChatPayClient:
    config = WeChatPayConfig(
        appid="wxappid0000000001",
        mch_id="1230000109",
        api_key=KEY,
        base_url=base_url,
        sign_type=SignType.HMAC_SHA256,
        read_timeout=read_timeout,
        connect_timeout=1.0,
    )
    return WeChatPayClient(config)


@pytest.fixture(params=["thread", "loop"])
def micropay(request):
    def call(client: WeChatPayClient, payment: MicropayRequest):
        if request.param == "thread":
            return client.micropay(payment)
        result, record = asyncio.run(client.micropay_on_loop(payment))
        record_to_database(record)
        if isinstance(result, GatewayError):
            raise result
        return result

    return call


def micropay_request(out_trade_no: str = "T100", total_fee: int = 100) -> MicropayRequest:
    return MicropayRequest(
        merchant=MERCHANT,
        out_trade_no=out_trade_no,
        total_fee=total_fee,
        body="Shop-Goods",
        auth_code=AUTH_CODE,
        spbill_create_ip="10.0.0.1",
    )


def paid_answer(request: dict[str, str], *, key: str = KEY, **overrides: str) -> dict[str, str]:
    fields = {
        "return_code": "SUCCESS",
        "return_msg": "OK",
        "appid": request["appid"],
        "mch_id": request["mch_id"],
        "sub_mch_id": request["sub_mch_id"],
        "nonce_str": "n0nce",
        "result_code": "SUCCESS",
        "out_trade_no": request["out_trade_no"],
        "total_fee": request["total_fee"],
        "transaction_id": "4200000000202611250000000001",
        "trade_type": "MICROPAY",
        "time_end": "20261125120000",
        **overrides,
    }
    fields["sign"] = sign(fields, key, SignType.HMAC_SHA256)
    return fields


def signed(fields_of):
    return lambda request: Reply(body=xmlcodec.encode(fields_of(request)))


def test_a_signed_paid_answer_reads_as_paid(micropay):
    with scripted_provider(signed(paid_answer)) as (url, received):
        result = micropay(client_for(url), micropay_request())
    assert result.outcome == MicropayOutcome.PAID
    assert result.transaction_id == "4200000000202611250000000001"
    assert received[0]["path"] == "/pay/micropay"
    assert received[0]["sign_type"] == "HMAC-SHA256"


@pytest.mark.parametrize(
    ("script", "error"),
    [
        pytest.param(
            signed(lambda r: {k: v for k, v in paid_answer(r).items() if k != "sign"}),
            MalformedResponse,
            id="unsigned",
        ),
        pytest.param(
            signed(lambda r: {**paid_answer(r), "sign": "0" * 64}), SignatureInvalid, id="forged"
        ),
        pytest.param(
            signed(lambda r: paid_answer(r, key="f" * 32)), SignatureInvalid, id="other-key"
        ),
        pytest.param(
            signed(lambda r: {**paid_answer(r), "total_fee": "1"}),
            SignatureInvalid,
            id="tampered-amount",
        ),
        pytest.param(
            signed(lambda r: paid_answer(r, total_fee="1")), MalformedResponse, id="other-amount"
        ),
        pytest.param(
            signed(lambda r: paid_answer(r, out_trade_no="OTHER")),
            MalformedResponse,
            id="other-order",
        ),
        pytest.param(
            signed(lambda r: paid_answer(r, mch_id="999")), MalformedResponse, id="other-mch"
        ),
        pytest.param(
            signed(lambda r: paid_answer(r, transaction_id="")),
            MalformedResponse,
            id="no-transaction-id",
        ),
        pytest.param(
            signed(lambda r: paid_answer(r, result_code="MAYBE")),
            MalformedResponse,
            id="odd-result-code",
        ),
        pytest.param(
            lambda r: Reply(status=200, body=b"<html>captive portal</html>"),
            MalformedResponse,
            id="html",
        ),
        pytest.param(lambda r: Reply(status=200, body=b""), MalformedResponse, id="empty"),
        pytest.param(
            lambda r: Reply(status=404, body=b"<html>Not Found</html>"),
            MalformedResponse,
            id="404",
        ),
        pytest.param(
            lambda r: Reply(status=302, headers=(("Location", "http://example.invalid/"),)),
            MalformedResponse,
            id="redirect",
        ),
        pytest.param(
            lambda r: Reply(status=502, body=b"bad gateway"), GatewayUnavailable, id="502"
        ),
    ],
)
def test_untrusted_answers_leave_the_outcome_unknown(script, error, micropay):
    with scripted_provider(script) as (url, _), pytest.raises(error) as caught:
        micropay(client_for(url), micropay_request())
    assert isinstance(caught.value, OutcomeUnknown)
    call = GatewayCall.objects.get()
    assert call.error == error.__name__


def test_return_code_fail_is_a_rejection_not_a_decline(micropay):
    answer = {"return_code": "FAIL", "return_msg": "签名错误"}
    script = lambda r: Reply(body=xmlcodec.encode(answer))  # noqa: E731
    with scripted_provider(script) as (url, _), pytest.raises(ProviderRejected, match="签名错误"):
        micropay(client_for(url), micropay_request())


def test_a_read_timeout_is_unknown_and_the_request_counts_as_sent(micropay):
    slow = scripted_provider(lambda r: Reply(delay=2.0, body=b"<xml/>"))
    with slow as (url, _), pytest.raises(GatewayUnavailable) as caught:
        micropay(client_for(url, read_timeout=0.3), micropay_request())
    assert caught.value.request_sent


def test_a_refused_connection_was_never_sent(micropay):
    with pytest.raises(GatewayUnavailable) as caught:
        micropay(client_for(f"http://127.0.0.1:{free_port()}"), micropay_request())
    assert not caught.value.request_sent


def test_every_call_is_recorded_without_key_sign_or_payment_code(micropay):
    with scripted_provider(signed(paid_answer)) as (url, _):
        micropay(client_for(url), micropay_request(out_trade_no="T200"))
    call = GatewayCall.objects.get()
    assert (call.endpoint, call.out_trade_no, call.sub_mch_id) == ("micropay", "T200", "1900000109")
    assert (call.http_status, call.return_code, call.result_code, call.error) == (
        200,
        "SUCCESS",
        "SUCCESS",
        "",
    )
    stored = repr(call.request_fields) + repr(call.response_fields)
    assert AUTH_CODE not in stored
    assert KEY not in stored
    assert call.request_fields["auth_code"] == "13************1234"
    assert call.request_fields["sign"] == "[redacted]"
    assert call.response_fields["sign"] == "[redacted]"


def test_the_payment_code_never_appears_in_logs(caplog, micropay):
    caplog.set_level("DEBUG")
    with scripted_provider(signed(paid_answer)) as (url, _):
        request = micropay_request()
        micropay(client_for(url), request)
    assert AUTH_CODE not in caplog.text
    assert AUTH_CODE not in repr(request)


def test_invalid_order_numbers_are_refused_before_sending(micropay):
    with pytest.raises(ValueError, match="out_trade_no"):
        micropay(client_for("http://127.0.0.1:9"), micropay_request(out_trade_no="bad no!"))

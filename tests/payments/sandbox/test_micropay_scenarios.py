"""Every micropay test code, through the real client, over HTTP, against the mounted sandbox."""

import pytest

from payments.gateway import (
    GatewayUnavailable,
    MicropayOutcome,
    MicropayRequest,
    ProviderRejected,
    TradeState,
)
from payments.gateway.wechatpay.client import WeChatPayClient
from payments.gateway.wechatpay.signing import SignType
from payments.models import GatewayCall
from payments.sandbox.models import SandboxOrder
from tests.conftest import wait_until
from tests.payments.sandbox.conftest import (
    AUTHCODEEXPIRE,
    NO_ANSWER,
    NOTENOUGH,
    PAID,
    SYSTEMERROR_PAID,
    USERPAYING_FOREVER,
    USERPAYING_THEN_PAID,
    fresh_auth_code,
    new_number,
    sandbox_config,
)

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def pay(client, merchant, auth_code, *, out_trade_no=None, total_fee=1234):
    request = MicropayRequest(
        merchant=merchant,
        out_trade_no=out_trade_no or new_number(),
        total_fee=total_fee,
        body="Demo store-Groceries",
        auth_code=auth_code,
        spbill_create_ip="10.1.2.3",
        device_info="WST01-0001",
    )
    return request, client.micropay(request)


def query(client, merchant, out_trade_no, total_fee=None):
    return client.order_query(
        merchant=merchant, out_trade_no=out_trade_no, expected_total_fee=total_fee
    )


@pytest.mark.parametrize("sign_type", list(SignType))
def test_code_001_is_paid_at_once(sandbox_url, merchant, sign_type):
    client = WeChatPayClient(sandbox_config(sandbox_url, sign_type=sign_type))
    request, result = pay(client, merchant, PAID)
    assert result.outcome == MicropayOutcome.PAID
    assert result.total_fee == 1234 and result.transaction_id
    answer = query(client, merchant, request.out_trade_no, 1234)
    assert answer.trade_state == TradeState.SUCCESS
    assert answer.transaction_id == result.transaction_id


def test_code_002_is_userpaying_then_paid(client, merchant):
    request, result = pay(client, merchant, USERPAYING_THEN_PAID)
    assert (result.outcome, result.err_code) == (MicropayOutcome.PENDING, "USERPAYING")
    wait_until(
        lambda: query(client, merchant, request.out_trade_no).trade_state == TradeState.SUCCESS,
        timeout=20,
        what="the customer to confirm",
    )
    assert query(client, merchant, request.out_trade_no, 1234).transaction_id


def test_code_003_stays_userpaying_and_reverses_with_recall(client, merchant):
    request, result = pay(client, merchant, USERPAYING_FOREVER)
    assert result.outcome == MicropayOutcome.PENDING
    assert query(client, merchant, request.out_trade_no).trade_state == TradeState.USERPAYING
    first = client.reverse(merchant=merchant, out_trade_no=request.out_trade_no)
    assert (first.ok, first.recall) == (False, True)
    second = client.reverse(merchant=merchant, out_trade_no=request.out_trade_no)
    assert (second.ok, second.recall) == (True, False)
    assert query(client, merchant, request.out_trade_no).trade_state == TradeState.REVOKED


@pytest.mark.parametrize(
    ("code", "err_code"), [(NOTENOUGH, "NOTENOUGH"), (AUTHCODEEXPIRE, "AUTHCODEEXPIRE")]
)
def test_declined_codes_fail_without_money(client, merchant, code, err_code):
    request, result = pay(client, merchant, code)
    assert (result.outcome, result.err_code) == (MicropayOutcome.DECLINED, err_code)
    answer = query(client, merchant, request.out_trade_no)
    assert answer.trade_state == TradeState.PAYERROR
    assert not answer.transaction_id


def test_code_006_reports_systemerror_although_paid(client, merchant):
    request, result = pay(client, merchant, SYSTEMERROR_PAID)
    assert (result.outcome, result.err_code) == (MicropayOutcome.UNKNOWN, "SYSTEMERROR")
    assert query(client, merchant, request.out_trade_no, 1234).trade_state == TradeState.SUCCESS


def test_code_007_times_out_and_charges_nothing(client, merchant):
    with pytest.raises(GatewayUnavailable) as caught:
        pay(client, merchant, NO_ANSWER)
    assert caught.value.request_sent
    call = GatewayCall.objects.get(endpoint="micropay", sub_mch_id=merchant.sub_mch_id)
    assert call.error == "GatewayUnavailable" and call.http_status is None
    answer = query(client, merchant, call.out_trade_no)
    assert answer.order_missing and answer.trade_state is None
    reversed_ = client.reverse(merchant=merchant, out_trade_no=call.out_trade_no)
    assert (reversed_.ok, reversed_.recall) == (True, False)


def test_any_other_valid_code_is_paid_once_only(client, merchant):
    code = fresh_auth_code()
    _, first = pay(client, merchant, code)
    assert first.outcome == MicropayOutcome.PAID
    _, second = pay(client, merchant, code)
    assert (second.outcome, second.err_code) == (MicropayOutcome.DECLINED, "AUTH_CODE_ERROR")


@pytest.mark.parametrize("code", ["280000000000000001", "1345", "193450000000000001"])
def test_invalid_codes_are_auth_code_invalid(client, merchant, code):
    request, result = pay(client, merchant, code)
    assert (result.outcome, result.err_code) == (MicropayOutcome.DECLINED, "AUTH_CODE_INVALID")
    assert query(client, merchant, request.out_trade_no).order_missing


def test_a_resent_micropay_answers_the_same_payment(client, merchant):
    request, first = pay(client, merchant, PAID)
    _, again = pay(client, merchant, PAID, out_trade_no=request.out_trade_no)
    assert again.outcome == MicropayOutcome.PAID
    assert again.transaction_id == first.transaction_id
    _, other = pay(client, merchant, PAID, out_trade_no=request.out_trade_no, total_fee=99)
    assert (other.outcome, other.err_code) == (MicropayOutcome.ORDER_CONFLICT, "OUT_TRADE_NO_USED")


def test_reversing_a_paid_order_returns_the_money(client, merchant):
    request, _ = pay(client, merchant, PAID)
    result = client.reverse(merchant=merchant, out_trade_no=request.out_trade_no)
    assert (result.ok, result.recall) == (True, False)
    assert query(client, merchant, request.out_trade_no).trade_state == TradeState.REVOKED
    _, again = pay(client, merchant, PAID, out_trade_no=request.out_trade_no)
    assert (again.outcome, again.err_code) == (MicropayOutcome.DECLINED, "ORDERREVERSED")


def test_a_forged_request_signature_is_refused_like_the_provider(sandbox_url, merchant):
    forger = WeChatPayClient(sandbox_config(sandbox_url, api_key="f" * 32))
    with pytest.raises(ProviderRejected, match="签名错误"):
        pay(forger, merchant, PAID)


def test_an_unknown_merchant_is_refused(sandbox_url, merchant):
    stranger = WeChatPayClient(sandbox_config(sandbox_url, mch_id="99999999"))
    with pytest.raises(ProviderRejected, match="mch_id"):
        pay(stranger, merchant, PAID)


def test_the_ledger_keeps_only_a_masked_payment_code(client, merchant):
    code = fresh_auth_code()
    request, _ = pay(client, merchant, code)
    order = SandboxOrder.objects.get(sub_mch_id=merchant.sub_mch_id)
    assert order.auth_code_masked == code[:2] + "*" * 12 + code[-4:]
    stored = " ".join(str(value) for value in order.__dict__.values())
    assert code not in stored
    assert order.out_trade_no == request.out_trade_no

"""The fast sandbox app (payments/sandbox/asgi.py) answers as the Django path does.

The fast path is reached over HTTP through the platform's uvicorn process (the mount in
config/asgi.py) and through a standalone `manage.py sandbox_provider`; the Django path is
reached in-process with Django's test client, which goes straight to the views. Rows the server
processes write are committed, so this test's connection sees them; the rows the in-process
views write stay in this test's transaction.

Django's middleware stamps every response with X-Request-ID and the fast path does not: that
header tells which path answered.
"""

import secrets
from collections.abc import Iterator

import httpx
import pytest
from django.conf import settings
from django.forms.models import model_to_dict
from django.test import Client, override_settings

from payments.gateway.wechatpay import xmlcodec
from payments.gateway.wechatpay.signing import SignType, sign, verify
from payments.sandbox.asgi import fast_routes
from payments.sandbox.models import SandboxOrder
from tests.conftest import wait_until
from tests.payments.sandbox.conftest import (
    PAID,
    USERPAYING_FOREVER,
    USERPAYING_THEN_PAID,
    fresh_auth_code,
    new_number,
    standalone_sandbox,
)

pytestmark = [pytest.mark.django_db, pytest.mark.slow]
KEY = settings.SANDBOX_WECHATPAY_API_KEY
MOUNT = "/sandbox/wechatpay"
# Differ on every answer, or per order: compared for shape, not value.
VARYING = {"nonce_str", "sign", "transaction_id", "out_trade_no", "time_end"}


def micropay_fields(sub_mch_id: str, **overrides: str) -> dict[str, str]:
    return {
        "appid": settings.SANDBOX_WECHATPAY_APPID,
        "mch_id": settings.SANDBOX_WECHATPAY_MCH_ID,
        "sub_mch_id": sub_mch_id,
        "nonce_str": secrets.token_hex(16),
        "body": "Demo store-Fast path",
        "out_trade_no": new_number("F"),
        "total_fee": "1234",
        "spbill_create_ip": "10.1.2.3",
        "auth_code": PAID,
        "attach": "till 7",
        "device_info": "WST01-0001",
        **overrides,
    }


def query_fields(sub_mch_id: str, **overrides: str) -> dict[str, str]:
    return {
        "appid": settings.SANDBOX_WECHATPAY_APPID,
        "mch_id": settings.SANDBOX_WECHATPAY_MCH_ID,
        "sub_mch_id": sub_mch_id,
        "nonce_str": secrets.token_hex(16),
        **overrides,
    }


def signed(fields: dict[str, str], sign_type: SignType = SignType.MD5) -> bytes:
    return xmlcodec.encode({**fields, "sign": sign(fields, KEY, sign_type)})


def fast(base_url: str, path: str, body: bytes) -> dict[str, str]:
    """POST to a server process; the answer must come from the fast path."""
    response = httpx.post(f"{base_url}{path}", content=body, timeout=10)
    assert response.status_code == 200
    assert "x-request-id" not in response.headers, "answered by the Django path"
    assert response.headers["content-type"] == "text/xml; charset=utf-8"
    return xmlcodec.decode(response.content)


def delegated(base_url: str, path: str, body: bytes, **kwargs) -> httpx.Response:
    """POST to a server process; the answer must come from the Django path."""
    response = httpx.post(f"{base_url}{path}", content=body, timeout=10, **kwargs)
    assert "x-request-id" in response.headers, "answered by the fast path"
    return response


def sync(path: str, body: bytes) -> dict[str, str]:
    """The Django path, in-process: the views and protocol.handle."""
    response = Client().post(f"{MOUNT}{path}", data=body, content_type="text/xml")
    assert response.status_code == 200
    return xmlcodec.decode(response.content)


def same_answer(
    fast_answer: dict[str, str],
    sync_answer: dict[str, str],
    sign_type: SignType,
    *,
    varying: frozenset[str] = frozenset(),
) -> None:
    assert verify(fast_answer, KEY, sign_type)
    assert verify(sync_answer, KEY, sign_type)
    assert fast_answer.keys() == sync_answer.keys()
    ignored = VARYING | varying
    assert {k: v for k, v in fast_answer.items() if k not in ignored} == {
        k: v for k, v in sync_answer.items() if k not in ignored
    }


def ledger_row(sub_mch_id: str, out_trade_no: str) -> dict:
    order = SandboxOrder.objects.get(sub_mch_id=sub_mch_id, out_trade_no=out_trade_no)
    row = model_to_dict(order, exclude=["id", "out_trade_no", "transaction_id"])
    for moment in ("created_at", "paid_at"):
        assert row.pop(moment) is not None
    assert order.created_at == order.paid_at
    assert len(order.transaction_id) == 28
    return row


@pytest.fixture
def mounted(asgi_server) -> str:
    return f"{asgi_server}{MOUNT}"


@pytest.fixture
def sub_mch_id() -> str:
    return f"19{secrets.randbelow(10**8):08d}"


# --- micropay ------------------------------------------------------------------------------------


@pytest.mark.parametrize("sign_type", list(SignType))
@pytest.mark.parametrize("code", ["test code", "fresh code"])
def test_a_micropay_paid_at_once_answers_and_records_as_the_django_path(
    mounted, sub_mch_id, sign_type, code
):
    auth_code = PAID if code == "test code" else fresh_auth_code()
    by_fast = micropay_fields(sub_mch_id, auth_code=auth_code, sign_type=sign_type.value)
    by_sync = {**by_fast, "out_trade_no": new_number("S")}
    if code == "fresh code":
        # A real-looking code pays once: the Django path gets one of its own, same prefix.
        by_sync["auth_code"] = auth_code[:2] + f"{(int(auth_code[2:]) + 1) % 10**16:016d}"
    fast_answer = fast(mounted, "/pay/micropay", signed(by_fast, sign_type))
    sync_answer = sync("/pay/micropay", signed(by_sync, sign_type))
    assert fast_answer["result_code"] == "SUCCESS"
    assert fast_answer["out_trade_no"] == by_fast["out_trade_no"]
    # The payer's openid is derived from the code.
    varying = frozenset({"openid"} if code == "fresh code" else ())
    same_answer(fast_answer, sync_answer, sign_type, varying=varying)
    fast_row = ledger_row(sub_mch_id, by_fast["out_trade_no"])
    sync_row = ledger_row(sub_mch_id, by_sync["out_trade_no"])
    if code == "fresh code":
        for derived in ("auth_code_masked", "auth_code_digest", "openid"):
            assert fast_row.pop(derived) != sync_row.pop(derived)
    assert fast_row == sync_row
    order = SandboxOrder.objects.get(sub_mch_id=sub_mch_id, out_trade_no=by_fast["out_trade_no"])
    assert order.transaction_id == fast_answer["transaction_id"]


def test_the_older_sdk_prefix_is_served_fast_too(mounted, sub_mch_id):
    answer = fast(mounted, "/sandboxnew/pay/micropay", signed(micropay_fields(sub_mch_id)))
    assert answer["result_code"] == "SUCCESS"


def test_a_resent_micropay_is_answered_by_the_django_path_with_the_same_payment(
    mounted, sub_mch_id
):
    fields = micropay_fields(sub_mch_id, auth_code=fresh_auth_code())
    first = fast(mounted, "/pay/micropay", signed(fields))
    again = delegated(mounted, "/pay/micropay", signed({**fields, "nonce_str": "again"}))
    answer = xmlcodec.decode(again.content)
    assert answer["transaction_id"] == first["transaction_id"]
    assert {k: v for k, v in answer.items() if k not in ("nonce_str", "sign")} == {
        k: v for k, v in first.items() if k not in ("nonce_str", "sign")
    }
    assert SandboxOrder.objects.filter(out_trade_no=fields["out_trade_no"]).count() == 1


def test_a_code_used_before_and_other_scenarios_go_to_the_django_path(mounted, sub_mch_id):
    code = fresh_auth_code()
    fast(mounted, "/pay/micropay", signed(micropay_fields(sub_mch_id, auth_code=code)))
    reused = delegated(
        mounted, "/pay/micropay", signed(micropay_fields(sub_mch_id, auth_code=code))
    )
    assert xmlcodec.decode(reused.content)["err_code"] == "AUTH_CODE_ERROR"
    invalid = micropay_fields(sub_mch_id, auth_code="280000000000000001")
    answer = xmlcodec.decode(delegated(mounted, "/pay/micropay", signed(invalid)).content)
    assert answer["err_code"] == "AUTH_CODE_INVALID"
    paying = micropay_fields(sub_mch_id, auth_code=USERPAYING_FOREVER)
    answer = xmlcodec.decode(delegated(mounted, "/pay/micropay", signed(paying)).content)
    assert answer["err_code"] == "USERPAYING"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<html>hi</html>", "XML格式错误"),
        (xmlcodec.encode({**micropay_fields("1900000109"), "sign": "0" * 32}), "签名错误"),
        (signed(micropay_fields("1900000109", mch_id="123")), "商户号mch_id不存在"),
    ],
)
def test_a_refused_envelope_answers_as_the_django_path(mounted, body, message):
    answer = fast(mounted, "/pay/micropay", body)
    assert answer == sync("/pay/micropay", body) == {"return_code": "FAIL", "return_msg": message}


@pytest.mark.parametrize(
    ("drop", "err_code"), [("sub_mch_id", "LACK_PARAMS"), ("auth_code", "LACK_PARAMS")]
)
def test_a_missing_field_is_the_same_signed_failure(mounted, drop, err_code):
    fields = micropay_fields("1900000109")
    del fields[drop]
    answer = fast(mounted, "/pay/micropay", signed(fields))
    same_answer(answer, sync("/pay/micropay", signed(fields)), SignType.MD5)
    assert answer["err_code"] == err_code


# --- orderquery ----------------------------------------------------------------------------------


def test_orderquery_of_a_paid_order_is_the_django_paths_answer(mounted, sub_mch_id):
    fields = micropay_fields(sub_mch_id, sign_type="HMAC-SHA256")
    fast(mounted, "/pay/micropay", signed(fields, SignType.HMAC_SHA256))
    query = signed(
        query_fields(sub_mch_id, out_trade_no=fields["out_trade_no"], sign_type="HMAC-SHA256"),
        SignType.HMAC_SHA256,
    )
    answer = fast(mounted, "/pay/orderquery", query)
    by_sync = sync("/pay/orderquery", query)
    assert answer["trade_state"] == "SUCCESS"
    assert verify(answer, KEY, SignType.HMAC_SHA256)
    assert {k: v for k, v in answer.items() if k not in ("nonce_str", "sign")} == {
        k: v for k, v in by_sync.items() if k not in ("nonce_str", "sign")
    }
    by_id = query_fields(sub_mch_id, transaction_id=answer["transaction_id"])
    assert fast(mounted, "/pay/orderquery", signed(by_id))["out_trade_no"] == fields["out_trade_no"]


def test_orderquery_of_a_userpaying_order_is_the_django_paths_answer(mounted, sub_mch_id):
    fields = micropay_fields(sub_mch_id, auth_code=USERPAYING_FOREVER)
    delegated(mounted, "/pay/micropay", signed(fields))
    query = signed(query_fields(sub_mch_id, out_trade_no=fields["out_trade_no"]))
    answer = fast(mounted, "/pay/orderquery", query)
    assert answer["trade_state"] == "USERPAYING"
    same_answer(answer, sync("/pay/orderquery", query), SignType.MD5)


def test_orderquery_of_a_missing_order_or_another_sub_merchants_order(mounted, sub_mch_id):
    fields = micropay_fields(sub_mch_id)
    fast(mounted, "/pay/micropay", signed(fields))
    for query in (
        query_fields(sub_mch_id, out_trade_no=new_number("M")),
        query_fields("1900000110", out_trade_no=fields["out_trade_no"]),
    ):
        answer = fast(mounted, "/pay/orderquery", signed(query))
        assert answer["err_code"] == "ORDERNOTEXIST"
        same_answer(answer, sync("/pay/orderquery", signed(query)), SignType.MD5)


def test_orderquery_when_the_customer_confirms_is_recorded_by_the_django_path(mounted, sub_mch_id):
    fields = micropay_fields(sub_mch_id, auth_code=USERPAYING_THEN_PAID)
    delegated(mounted, "/pay/micropay", signed(fields))
    query = query_fields(sub_mch_id, out_trade_no=fields["out_trade_no"])
    assert fast(mounted, "/pay/orderquery", signed(query))["trade_state"] == "USERPAYING"

    def confirmed() -> bool:
        response = httpx.post(f"{mounted}/pay/orderquery", content=signed(query), timeout=10)
        return xmlcodec.decode(response.content)["trade_state"] == "SUCCESS"

    wait_until(confirmed, timeout=10, what="the customer to confirm")
    order = SandboxOrder.objects.get(sub_mch_id=sub_mch_id, out_trade_no=fields["out_trade_no"])
    assert (order.trade_state, order.paid_at) == ("SUCCESS", order.pay_due_at)
    # Recorded once: from now on the fast path answers it.
    assert fast(mounted, "/pay/orderquery", signed(query))["trade_state"] == "SUCCESS"


# --- everything else goes to Django --------------------------------------------------------------


def test_the_other_endpoints_are_the_django_paths(mounted, sub_mch_id):
    fields = micropay_fields(sub_mch_id)
    fast(mounted, "/pay/micropay", signed(fields))
    reverse = query_fields(sub_mch_id, out_trade_no=new_number("R"))
    answer = xmlcodec.decode(delegated(mounted, "/secapi/pay/reverse", signed(reverse)).content)
    assert (answer["result_code"], answer["recall"]) == ("SUCCESS", "N")
    bill = query_fields(sub_mch_id, bill_date="20000101", bill_type="ALL")
    answer = xmlcodec.decode(delegated(mounted, "/pay/downloadbill", signed(bill)).content)
    assert answer["return_code"] == "FAIL"
    scan = delegated(mounted, "/control/scan", b"{}", headers={"content-type": "application/json"})
    assert scan.status_code == 404
    get = httpx.get(f"{mounted}/pay/micropay", timeout=10)
    assert "x-request-id" in get.headers
    assert xmlcodec.decode(get.content)["return_msg"] == "请使用post方法"


def test_the_fast_routes_are_micropay_and_orderquery_under_both_prefixes():
    assert fast_routes() == {
        "pay/micropay": "micropay",
        "pay/orderquery": "orderquery",
        "sandboxnew/pay/micropay": "micropay",
        "sandboxnew/pay/orderquery": "orderquery",
    }


# --- standalone ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def strict_standalone(live_env) -> Iterator[str]:
    """`manage.py sandbox_provider` at the root, refusing sub-merchants outside the account."""
    with standalone_sandbox(
        {**live_env, "SANDBOX_WECHATPAY_STRICT_SUB_MCH": "true"}, "sandbox-provider-strict"
    ) as url:
        yield url


@override_settings(SANDBOX_WECHATPAY_STRICT_SUB_MCH=True)
def test_the_standalone_app_serves_at_its_root_and_refuses_unknown_sub_merchants(
    strict_standalone,
):
    fields = micropay_fields("1900000110")
    assert fast(strict_standalone, "/pay/micropay", signed(fields))["result_code"] == "SUCCESS"
    query = query_fields("1900000110", out_trade_no=fields["out_trade_no"])
    assert fast(strict_standalone, "/pay/orderquery", signed(query))["trade_state"] == "SUCCESS"
    for path in ("/pay/micropay", "/pay/orderquery"):
        unknown = micropay_fields("1234567890")
        answer = fast(strict_standalone, path, signed(unknown))
        assert answer["err_code"] == "NOAUTH"
        same_answer(answer, sync(path, signed(unknown)), SignType.MD5)
    refund = query_fields("1900000110", out_trade_no=fields["out_trade_no"])
    response = delegated(strict_standalone, "/pay/refundquery", signed(refund))
    assert xmlcodec.decode(response.content)["return_code"] == "SUCCESS"

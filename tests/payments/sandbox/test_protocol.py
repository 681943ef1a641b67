"""The sandbox's envelope: refused requests look like the provider's, answers are signed."""

import pytest
from django.conf import settings
from django.test import Client, override_settings

from payments.gateway.wechatpay import xmlcodec
from payments.gateway.wechatpay.signing import SignType, sign, verify

pytestmark = pytest.mark.django_db
MICROPAY = "/sandbox/wechatpay/pay/micropay"
KEY = settings.SANDBOX_WECHATPAY_API_KEY


def request_fields(**overrides) -> dict[str, str]:
    fields = {
        "appid": settings.SANDBOX_WECHATPAY_APPID,
        "mch_id": settings.SANDBOX_WECHATPAY_MCH_ID,
        "sub_mch_id": "1900000109",
        "nonce_str": "5K8264ILTKCH16CQ2502SI8ZNMTM67VS",
        "body": "Demo store-Protocol",
        "out_trade_no": "P" + overrides.pop("suffix", "1"),
        "total_fee": "1",
        "spbill_create_ip": "10.1.2.3",
        "auth_code": "134500000000000001",
        **overrides,
    }
    return fields


def post(path: str, body: bytes) -> dict[str, str]:
    response = Client().post(path, data=body, content_type="text/xml")
    assert response.status_code == 200
    return xmlcodec.decode(response.content)


def signed(fields: dict[str, str], sign_type: SignType = SignType.MD5) -> bytes:
    return xmlcodec.encode({**fields, "sign": sign(fields, KEY, sign_type)})


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "post数据为空"),
        (b"<html>hi</html>", "XML格式错误"),
        (b"\xff\xfe<xml/>", "编码格式错误"),
        (xmlcodec.encode(request_fields()), "缺少参数sign"),
        (xmlcodec.encode({**request_fields(), "sign": "0" * 32}), "签名错误"),
        (signed(request_fields(mch_id="123")), "商户号mch_id不存在"),
        (signed(request_fields(appid="wx0000000000000000")), "appid和mch_id不匹配"),
        (signed(request_fields(sign_type="SHA1")), "sign_type参数错误"),
    ],
)
def test_protocol_failures_are_unsigned_fail_answers(body, message):
    answer = post(MICROPAY, body)
    assert answer == {"return_code": "FAIL", "return_msg": message}


def test_a_get_is_refused():
    answer = xmlcodec.decode(Client().get(MICROPAY).content)
    assert answer["return_msg"] == "请使用post方法"


def test_a_tampered_field_breaks_the_signature():
    body = signed(request_fields(suffix="T1")).replace(b"[1]]></total_fee>", b"[2]]></total_fee>")
    assert post(MICROPAY, body)["return_msg"] == "签名错误"


@pytest.mark.parametrize("sign_type", list(SignType))
def test_answers_are_signed_with_the_requests_algorithm(sign_type):
    fields = request_fields(suffix=f"S{sign_type.name}", sign_type=sign_type.value)
    answer = post(MICROPAY, signed(fields, sign_type))
    assert answer["result_code"] == "SUCCESS"
    assert verify(answer, KEY, sign_type)


def test_a_missing_parameter_is_a_signed_business_failure():
    fields = request_fields(suffix="L1")
    del fields["spbill_create_ip"]
    answer = post(MICROPAY, signed(fields))
    assert (answer["result_code"], answer["err_code"]) == ("FAIL", "LACK_PARAMS")
    assert verify(answer, KEY)


@override_settings(SANDBOX_WECHATPAY_STRICT_SUB_MCH=True)
def test_strict_mode_refuses_sub_merchants_outside_the_dev_account():
    answer = post(MICROPAY, signed(request_fields(suffix="X1", sub_mch_id="1234567890")))
    assert answer["err_code"] == "NOAUTH"
    known = post(MICROPAY, signed(request_fields(suffix="X2", sub_mch_id="1900000110")))
    assert known["result_code"] == "SUCCESS"


def test_the_older_sdk_sandbox_prefix_answers_too():
    answer = post("/sandbox/wechatpay/sandboxnew/pay/micropay", signed(request_fields(suffix="N1")))
    assert answer["result_code"] == "SUCCESS"


def test_a_staff_session_may_inject_discrepancies(django_user_model):
    url = "/sandbox/wechatpay/control/bill-adjustments"
    body = {"bill_date": "2026-01-02", "sub_mch_id": "1900000109", "kind": "extra_payment",
            "amount": 5}  # fmt: skip
    staff = Client()
    staff.force_login(django_user_model.objects.create_user("ops", is_staff=True))
    assert staff.post(url, body, content_type="application/json").status_code == 201
    cashier = Client()
    cashier.force_login(django_user_model.objects.create_user("cashier"))
    assert cashier.post(url, body, content_type="application/json").status_code == 403


def test_a_staff_session_needs_its_csrf_token(django_user_model):
    url = "/sandbox/wechatpay/control/bill-adjustments"
    body = {"bill_date": "2026-01-02", "sub_mch_id": "1900000109", "kind": "extra_payment",
            "amount": 5}  # fmt: skip
    staff = Client(enforce_csrf_checks=True)
    staff.force_login(django_user_model.objects.create_user("ops2", is_staff=True))
    assert staff.post(url, body, content_type="application/json").status_code == 403


def test_the_old_sandbox_sign_key_handshake_answers_the_dev_key():
    fields = {"mch_id": settings.SANDBOX_WECHATPAY_MCH_ID, "nonce_str": "abc"}
    answer = post("/sandbox/wechatpay/sandboxnew/pay/getsignkey", signed(fields))
    assert (answer["return_code"], answer["sandbox_signkey"]) == ("SUCCESS", KEY)


def test_a_request_without_appid_is_refused_outside_the_handshake():
    fields = request_fields(suffix="A1")
    del fields["appid"]
    assert post(MICROPAY, signed(fields))["return_msg"] == "缺少参数appid"


def test_transaction_reports_are_accepted():
    answer = post(
        "/sandbox/wechatpay/payitil/report", b"<xml><interface_url>x</interface_url></xml>"
    )
    assert answer["return_code"] == "SUCCESS"

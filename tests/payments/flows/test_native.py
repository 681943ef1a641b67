"""Native QR: the code on the customer screen, notifications (duplicate, forged, replayed),
polling as the backup, and the close at expiry."""

import logging
import secrets

import httpx
import pytest
from django.conf import settings

from payments.gateway.wechatpay import xmlcodec
from payments.gateway.wechatpay.signing import SignType, sign
from payments.models import Payment
from tenancy.models import AuditEntry
from terminals.models import TerminalCommand
from tests.payments.flows.drive import settle, step
from tests.payments.helpers import age

pytestmark = pytest.mark.slow
NOTIFY = "/payments/wechatpay/notify"


def notification(payment: Payment, *, key=None, **changes) -> bytes:
    fields = {
        "return_code": "SUCCESS", "result_code": "SUCCESS",
        "appid": settings.WECHATPAY_APPID, "mch_id": settings.WECHATPAY_MCH_ID,
        "sub_mch_id": payment.sub_mch_id, "nonce_str": secrets.token_hex(16),
        "openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", "trade_type": "NATIVE", "bank_type": "CFT",
        "total_fee": str(payment.amount_fen), "cash_fee": str(payment.amount_fen),
        "transaction_id": "4200000000202611250000000001", "out_trade_no": payment.out_trade_no,
        "time_end": "20261125120000", **changes,
    }  # fmt: skip
    fields["sign"] = sign(fields, key or settings.WECHATPAY_API_KEY, SignType.HMAC_SHA256)
    return xmlcodec.encode(fields)


def post(client, body: bytes):
    return client.post(NOTIFY, body, content_type="text/xml")


def succeed_count(payment) -> int:
    return AuditEntry.objects.filter(target_id=str(payment.pk), action="payment.succeed").count()


def test_a_native_order_shows_its_qr_code_on_the_customer_screen(native):
    assert native.state == "awaiting_scan" and native.code_url.startswith("weixin://")
    command = TerminalCommand.objects.get(terminal=native.terminal, kind="display")
    assert command.payload["qr"] == native.code_url
    assert command.payload["amount_fen"] == 2500


def test_a_signed_notification_marks_it_paid_and_is_acknowledged_in_xml(native, client):
    response = post(client, notification(native))
    assert response.status_code == 200
    assert xmlcodec.decode(response.content)["return_code"] == "SUCCESS"
    native.refresh_from_db()
    assert native.state == "succeeded" and native.follow_up == ""


def test_duplicate_and_replayed_notifications_cause_no_second_transition(native, client):
    body = notification(native)
    for _ in range(3):
        assert xmlcodec.decode(post(client, body).content)["return_code"] == "SUCCESS"
    # A replay with a fresh nonce (the provider's own retry) is acknowledged too.
    assert xmlcodec.decode(post(client, notification(native)).content)["return_code"] == "SUCCESS"
    assert succeed_count(native) == 1


@pytest.mark.parametrize(
    "forgery",
    [
        {"key": "0" * 32},  # signed with another key
        {"total_fee": "1"},  # signed, but the amount is not the order's
        {"sub_mch_id": "1900000110"},  # signed, but another merchant's
        {"out_trade_no": "SY000000000000unknown"},
    ],
)
def test_forged_notifications_are_rejected_logged_and_change_nothing(native, client, caplog,
                                                                     forgery):  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="security"):
        response = post(client, notification(native, **forgery))
    assert response.status_code == 400
    assert xmlcodec.decode(response.content)["return_code"] == "FAIL"
    assert "payment notification rejected" in caplog.text
    native.refresh_from_db()
    assert native.state == "awaiting_scan" and succeed_count(native) == 0


def test_an_unsigned_notification_is_rejected(native, client):
    fields = xmlcodec.decode(notification(native))
    del fields["sign"]
    assert post(client, xmlcodec.encode(fields)).status_code == 400


def test_polling_finds_a_payment_whose_notification_never_came(native, payments_server):
    scanned = httpx.post(f"{payments_server}/sandbox/wechatpay/control/scan",
                         json={"code_url": native.code_url})  # fmt: skip
    assert scanned.status_code == 200
    assert step(native) == "query"
    assert native.state == "succeeded" and native.transaction_id == scanned.json()["transaction_id"]


def test_an_unpaid_native_order_is_closed_at_expiry(native):
    age(native, 361)
    assert settle(native) == ["query", "close"]
    assert native.state == "closed" and native.trade_state == "CLOSED"


def test_a_cancelled_native_order_is_closed_once_the_provider_allows(native, merchant_api):
    response = merchant_api.post(f"/api/v1/payments/{native.pk}/cancel/")
    assert response.status_code == 200 and response.json()["cancel_requested_at"]
    native.refresh_from_db()
    assert native.follow_up == "close"
    assert (native.next_check_at - native.created_at).total_seconds() >= 300
    assert settle(native) == ["close"]
    assert native.state == "closed"

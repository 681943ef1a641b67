"""Native QR orders: create, close, the customer's scan, and signed notifications with retries."""

from datetime import timedelta

import httpx
import pytest
from django.utils import timezone

from payments.gateway import NativeOrderRequest, SignatureInvalid, TradeState
from payments.gateway.wechatpay.client import WeChatPayClient
from payments.gateway.wechatpay.notifications import ack
from payments.gateway.wechatpay.signing import SignType
from payments.sandbox import notifications
from payments.sandbox.models import NotificationStatus, SandboxNotification
from tests.conftest import wait_until
from tests.payments.sandbox.conftest import new_number, sandbox_config

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def order(client, merchant, *, notify_url=None, expires_in=timedelta(minutes=6), total_fee=880):
    request = NativeOrderRequest(
        merchant=merchant,
        out_trade_no=new_number("N"),
        total_fee=total_fee,
        body="Demo store-QR",
        product_id="P1",
        spbill_create_ip="10.1.2.3",
        notify_url=notify_url,
        time_expire=timezone.now() + expires_in,
    )
    return request, client.native_order(request)


def scan(sandbox_url, **body) -> httpx.Response:
    return httpx.post(f"{sandbox_url}/control/scan", json=body, timeout=10)


def test_a_native_order_gets_a_code_url_and_can_be_closed(client, merchant, sandbox_url):
    request, result = order(client, merchant)
    assert result.ok and result.code_url.startswith("weixin://wxpay/bizpayurl?pr=")
    state = client.order_query(merchant=merchant, out_trade_no=request.out_trade_no)
    assert state.trade_state == TradeState.NOTPAY
    assert client.close_order(merchant=merchant, out_trade_no=request.out_trade_no).ok
    closed = client.order_query(merchant=merchant, out_trade_no=request.out_trade_no)
    assert closed.trade_state == TradeState.CLOSED
    again = client.close_order(merchant=merchant, out_trade_no=request.out_trade_no)
    assert (again.ok, again.err_code) == (False, "ORDERCLOSED")
    assert scan(sandbox_url, code_url=result.code_url).status_code == 409


def test_closing_an_unknown_order_is_ordernotexist(client, merchant):
    result = client.close_order(merchant=merchant, out_trade_no=new_number())
    assert (result.ok, result.err_code) == (False, "ORDERNOTEXIST")


def test_an_expired_code_cannot_be_paid(client, merchant, sandbox_url):
    _, result = order(client, merchant, expires_in=timedelta(seconds=-1))
    assert scan(sandbox_url, code_url=result.code_url).status_code == 409


def test_scanning_pays_and_the_notification_is_signed_and_retried_on_a_bad_ack(
    client, merchant, sandbox_url, notify_receiver, celery_worker
):
    notify_receiver.acks = [b"success", b"<xml><return_code>FAIL</return_code></xml>", ack()]
    request, result = order(client, merchant, notify_url=notify_receiver.url)
    paid = scan(sandbox_url, code_url=result.code_url)
    assert paid.status_code == 200
    wait_until(lambda: len(notify_receiver.received) >= 3, timeout=30, what="three deliveries")
    notices = [client.parse_notification(body) for body in notify_receiver.received]
    assert {n.out_trade_no for n in notices} == {request.out_trade_no}
    assert {n.total_fee for n in notices} == {880}
    assert {n.transaction_id for n in notices} == {paid.json()["transaction_id"]}
    assert all(n.sub_mch_id == merchant.sub_mch_id for n in notices)
    wait_until(
        lambda: (
            SandboxNotification.objects.get(order__out_trade_no=request.out_trade_no).status
            == NotificationStatus.DELIVERED
        ),
        what="the notification to count as delivered",
    )
    notice = SandboxNotification.objects.get(order__out_trade_no=request.out_trade_no)
    assert notice.attempts == 3
    # Delivering again does nothing: the task is idempotent.
    assert notifications.deliver(notice.pk) is None
    assert len(notify_receiver.received) == 3
    state = client.order_query(merchant=merchant, out_trade_no=request.out_trade_no)
    assert state.trade_state == TradeState.SUCCESS
    assert not client.close_order(merchant=merchant, out_trade_no=request.out_trade_no).ok


def test_a_notification_never_acknowledged_is_given_up_after_the_schedule(
    client, merchant, sandbox_url, notify_receiver, celery_worker, settings
):
    notify_receiver.acks = [b"<html>500</html>"]
    request, result = order(client, merchant, notify_url=notify_receiver.url)
    assert scan(sandbox_url, code_url=result.code_url).status_code == 200
    attempts = len(settings.SANDBOX_WECHATPAY_NOTIFY_RETRY_MS) + 1
    wait_until(
        lambda: (
            SandboxNotification.objects.get(order__out_trade_no=request.out_trade_no).status
            == NotificationStatus.FAILED
        ),
        timeout=30,
        what="the notification to be given up",
    )
    assert len(notify_receiver.received) == attempts


def test_hmac_notifications_without_sign_type_verify_with_the_accounts_algorithm(
    sandbox_url, merchant, notify_receiver, celery_worker
):
    notify_receiver.acks = [ack()]
    hmac_client = WeChatPayClient(sandbox_config(sandbox_url, sign_type=SignType.HMAC_SHA256))
    _, result = order(hmac_client, merchant, notify_url=notify_receiver.url)
    scan(sandbox_url, code_url=result.code_url)
    wait_until(lambda: notify_receiver.received, timeout=30, what="a notification")
    body = notify_receiver.received[0]
    assert b"sign_type" not in body
    assert hmac_client.parse_notification(body).ok
    md5_client = WeChatPayClient(sandbox_config(sandbox_url, sign_type=SignType.MD5))
    with pytest.raises(SignatureInvalid):
        md5_client.parse_notification(body)


def test_a_forged_notification_is_rejected(
    client, merchant, sandbox_url, notify_receiver, celery_worker
):
    notify_receiver.acks = [ack()]
    _, result = order(client, merchant, notify_url=notify_receiver.url)
    scan(sandbox_url, code_url=result.code_url)
    wait_until(lambda: notify_receiver.received, timeout=30, what="a notification")
    forged = notify_receiver.received[0].replace(
        b"<total_fee><![CDATA[880]]>", b"<total_fee><![CDATA[1]]>"
    )
    assert forged != notify_receiver.received[0]
    with pytest.raises(SignatureInvalid):
        client.parse_notification(forged)


def test_the_acknowledgement_is_the_providers_xml():
    assert ack() == (
        b"<xml><return_code><![CDATA[SUCCESS]]></return_code>"
        b"<return_msg><![CDATA[OK]]></return_msg></xml>"
    )

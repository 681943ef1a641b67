"""A payment the provider took after it was closed or failed here: recorded, flagged, refunded."""

import httpx
import pytest
from django.utils import timezone

from payments.gateway.types import MicropayOutcome, MicropayResult
from payments.gateway.wechatpay import xmlcodec
from payments.gateway.wechatpay.signing import SignType, sign
from payments.models import FollowUp, Payment, Refund
from payments.services.payments import micropay_apply, payment_end, payment_fail, system
from tenancy.models import AuditEntry
from tests.payments import helpers as codes
from tests.payments.flows.drive import settle, settle_refund, step
from tests.payments.flows.test_native import notification, post
from tests.payments.scripted_provider import Reply, scripted_provider

pytestmark = pytest.mark.slow


def customer_pays(payment: Payment, base_url: str) -> str:
    """The customer pays the QR at the provider (at the last second); return the transaction id.

    The sandbox's own notification cannot reach this test's uncommitted payment: the test posts
    the notification itself, as late as it wants."""
    scanned = httpx.post(f"{base_url}/sandbox/wechatpay/control/scan",
                         json={"code_url": payment.code_url}, timeout=10)  # fmt: skip
    assert scanned.status_code == 200, scanned.text
    return scanned.json()["transaction_id"]


def closed_here(payment: Payment) -> Payment:
    """The order expired and was closed on this side (the provider's close lost the race)."""
    payment_end(payment, action="close", actor=system("tests"), reason="expired",
                err_code="EXPIRED")  # fmt: skip
    payment.refresh_from_db()
    assert payment.state == "closed"
    return payment


def audit_actions(payment: Payment) -> list[str]:
    return list(
        AuditEntry.objects.filter(target_id=str(payment.pk), action__startswith="payment.")
        .order_by("pk")
        .values_list("action", flat=True)
    )


def test_a_late_notification_for_a_closed_payment_records_it_and_refunds_it_in_full(
    native, client, payments_server
):
    transaction_id = customer_pays(native, payments_server)
    closed_here(native)
    body = notification(native, transaction_id=transaction_id)
    assert post(client, body).status_code == 200
    native.refresh_from_db()
    assert native.state == "succeeded" and native.paid_after_close
    assert native.transaction_id == transaction_id and native.follow_up == ""
    assert audit_actions(native)[-1] == "payment.succeed_after_close"
    (refund,) = Refund.objects.filter(payment=native)
    assert refund.amount_fen == 2500 and refund.follow_up == FollowUp.SUBMIT_REFUND
    assert refund.created_by.startswith("system: paid after close")
    assert native.refundable_fen == 0
    # The provider retries, the same body and a fresh nonce: acknowledged, nothing more happens.
    assert post(client, body).status_code == 200
    assert post(client, notification(native, transaction_id=transaction_id)).status_code == 200
    assert Refund.objects.filter(payment=native).count() == 1
    assert audit_actions(native).count("payment.succeed_after_close") == 1
    # The refund goes through the normal refund flow and the customer gets the money back.
    settle_refund(refund)
    refund.refresh_from_db()
    native.refresh_from_db()
    assert refund.state == "succeeded"
    assert native.refunded_fen == 2500


def test_closeorder_answering_orderpaid_for_a_failed_payment_refunds_it(native, payments_server):
    """unifiedorder's answer was lost (failed here, closed later): the close finds it paid."""
    transaction_id = customer_pays(native, payments_server)
    payment_fail(native, err_code="ReadTimeout", message="no answer", actor=system("tests"),
                 follow_up=FollowUp.CLOSE, at=timezone.now())  # fmt: skip
    native.refresh_from_db()
    assert native.state == "failed"
    assert step(native) == "close"  # ORDERPAID: learn the transaction with orderquery
    assert native.follow_up == FollowUp.QUERY
    assert step(native) == "query"
    assert native.state == "succeeded" and native.paid_after_close
    assert native.transaction_id == transaction_id
    assert Refund.objects.get(payment=native).amount_fen == 2500


def test_the_api_shows_and_filters_payments_paid_after_close(
    native, client, merchant_api, payments_server
):
    transaction_id = customer_pays(native, payments_server)
    closed_here(native)
    post(client, notification(native, transaction_id=transaction_id))
    listed = merchant_api.get("/api/v1/payments/?paid_after_close=true").json()["results"]
    assert [(p["id"], p["paid_after_close"], p["state"]) for p in listed] == [
        (native.pk, True, "succeeded")
    ]
    assert merchant_api.get("/api/v1/payments/?paid_after_close=false").json()["results"] == []


def test_an_ordinary_success_is_not_flagged_and_not_refunded(native, client):
    assert post(client, notification(native)).status_code == 200
    native.refresh_from_db()
    assert native.state == "succeeded" and not native.paid_after_close
    assert not Refund.objects.filter(payment=native).exists()


def test_a_native_order_paid_after_the_cashier_cancelled_it_is_refunded_in_full(
    native, client, merchant_api, payments_server
):
    """Reference §6: the close waits for the provider's 5 minutes; a customer who pays the QR
    meanwhile is charged for a sale the till dropped, so the money goes back at once."""
    cancelled = merchant_api.post(f"/api/v1/payments/{native.pk}/cancel/")
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "awaiting_scan"
    transaction_id = customer_pays(native, payments_server)
    assert post(client, notification(native, transaction_id=transaction_id)).status_code == 200
    native.refresh_from_db()
    assert native.state == "succeeded" and native.paid_after_close
    assert native.follow_up == ""  # the close is no longer due: there is nothing left to close
    (refund,) = Refund.objects.filter(payment=native)
    assert refund.amount_fen == 2500 and refund.follow_up == FollowUp.SUBMIT_REFUND
    assert post(client, notification(native, transaction_id=transaction_id)).status_code == 200
    assert Refund.objects.filter(payment=native).count() == 1


def test_a_micropay_paid_after_the_cashier_cancelled_it_is_reversed_not_kept(
    shop, merchant_api, payments_server
):
    """The cancel asked for a reversal; the provider's late SUCCESS does not undo that: the
    reversal (which refunds a paid order) still runs and the payment ends reversed."""
    created = merchant_api.post("/api/v1/payments/", {"terminal": shop.a.terminal.pk,
                                "amount_fen": 300, "auth_code": codes.USERPAYING_FOREVER},
                                format="json").json()  # fmt: skip
    assert merchant_api.post(f"/api/v1/payments/{created['id']}/cancel/").status_code == 200
    payment = Payment.objects.get(pk=created["id"])
    paid = MicropayResult(ok=True, outcome=MicropayOutcome.PAID, out_trade_no=payment.out_trade_no,
                          transaction_id="4200000000000000000001")  # fmt: skip
    payment = micropay_apply(payment.pk, paid)
    assert payment.state == "paying" and payment.follow_up == FollowUp.REVERSE
    settle(payment)
    assert payment.state == "reversed"
    assert not Refund.objects.filter(payment=payment).exists()


def test_a_refused_automatic_refund_waits_for_people_with_its_money_still_reserved(
    native, client, payments_server, settings
):
    """The provider refuses the automatic refund for good (the merchant's balance is short):
    failing it would let the sale stand with the customer's money; it needs people instead."""
    transaction_id = customer_pays(native, payments_server)
    closed_here(native)
    post(client, notification(native, transaction_id=transaction_id))
    (refund,) = Refund.objects.filter(payment=native)

    def not_enough(request):
        fields = {"return_code": "SUCCESS", "return_msg": "OK", "appid": request["appid"],
                  "mch_id": request["mch_id"], "sub_mch_id": request["sub_mch_id"],
                  "nonce_str": "n0nce", "result_code": "FAIL", "err_code": "NOTENOUGH",
                  "err_code_des": "balance short"}  # fmt: skip
        fields["sign"] = sign(fields, settings.WECHATPAY_API_KEY,
                              SignType(settings.WECHATPAY_SIGN_TYPE))  # fmt: skip
        return Reply(body=xmlcodec.encode(fields))

    with scripted_provider(not_enough) as (base_url, received):
        settings.WECHATPAY_BASE_URL = base_url
        settle_refund(refund)
    assert received and received[0]["out_refund_no"] == refund.out_refund_no
    refund.refresh_from_db()
    native.refresh_from_db()
    assert refund.state == "needs_manual" and refund.err_code == "NOTENOUGH"
    assert native.refundable_fen == 0 and native.refunded_fen == 0

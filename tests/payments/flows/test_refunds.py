"""Refunds: partial, full, over-refund, followed with refundquery; who may refund."""

import httpx
import pytest
from django.utils import timezone

from payments.models import Payment, Refund
from payments.services import events
from payments.services.refunds import refund_follow_up
from tenancy.models import AuditEntry
from tests.payments import helpers as codes
from tests.payments.flows.drive import settle_refund
from tests.payments.helpers import make_due

pytestmark = pytest.mark.slow


@pytest.fixture
def paid(shop, merchant_api) -> Payment:
    body = {"terminal": shop.a.terminal.pk, "amount_fen": 1000, "auth_code": codes.PAID}
    response = merchant_api.post("/api/v1/payments/", body, format="json")
    assert response.json()["state"] == "succeeded"
    return Payment.objects.get(pk=response.json()["id"])


def refund(api, payment, amount_fen, **headers):
    return api.post(f"/api/v1/payments/{payment.pk}/refunds/", {"amount_fen": amount_fen},
                    format="json", **headers)  # fmt: skip


def test_a_partial_refund_is_accepted_then_succeeds(merchant_api, paid):
    response = refund(merchant_api, paid, 300)
    assert response.status_code == 201, response.json()
    assert response.json()["state"] == "processing"
    row = Refund.objects.get(pk=response.json()["id"])
    assert settle_refund(row) == ["query_refund"]
    row.refresh_from_db()
    paid.refresh_from_db()
    assert row.state == "succeeded" and row.refund_id
    assert (paid.refunded_fen, paid.refundable_fen) == (300, 700)


def test_refunds_up_to_the_full_amount_then_no_more(merchant_api, paid):
    assert refund(merchant_api, paid, 400).status_code == 201
    assert refund(merchant_api, paid, 600).status_code == 201
    over = refund(merchant_api, paid, 1)
    assert over.status_code == 400
    assert over.json()["error"]["code"] == "refund_exceeds_payment"
    assert over.json()["error"]["refundable_fen"] == 0
    for row in Refund.objects.filter(payment=paid):
        settle_refund(row)
    paid.refresh_from_db()
    assert paid.refunded_fen == 1000


def test_an_over_refund_is_refused_and_changes_nothing(merchant_api, paid):
    response = refund(merchant_api, paid, 1001)
    assert response.status_code == 400
    assert not Refund.objects.exists()
    paid.refresh_from_db()
    assert paid.refund_reserved_fen == 0


def test_an_unpaid_payment_cannot_be_refunded(shop, merchant_api):
    body = {"terminal": shop.a.terminal.pk, "amount_fen": 1000, "auth_code": codes.NOTENOUGH}
    failed = merchant_api.post("/api/v1/payments/", body, format="json").json()
    response = merchant_api.post(f"/api/v1/payments/{failed['id']}/refunds/",
                                 {"amount_fen": 1}, format="json")  # fmt: skip
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "payment_not_refundable"


def test_a_cashier_cannot_refund(shop, paid, login):
    client = login(shop.a.cashier)
    assert refund(client, paid, 100).status_code == 403
    assert not Refund.objects.exists()


def test_a_merchant_manager_refunds_and_the_refund_lists(shop, paid, login):
    client = login(shop.a.manager)
    assert refund(client, paid, 100).status_code == 201
    listed = client.get(f"/api/v1/refunds/?payment={paid.pk}").json()["results"]
    assert [r["amount_fen"] for r in listed] == [100]


def test_the_database_itself_refuses_reserving_more_than_was_paid(paid):
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        Payment.objects.filter(pk=paid.pk).update(refund_reserved_fen=paid.amount_fen + 1)


def script_outcome(base_url, refund_row, outcome):
    response = httpx.post(f"{base_url}/sandbox/wechatpay/control/refund-outcome",
                          json={"out_refund_no": refund_row.out_refund_no, "outcome": outcome},
                          timeout=10)  # fmt: skip
    assert response.status_code == 200, response.text


def query_once(refund_row) -> None:
    make_due(refund_row)
    assert refund_follow_up(refund_id=refund_row.pk) == "query_refund"
    refund_row.refresh_from_db()


def test_a_bounced_refund_needs_manual_handling_and_keeps_its_amount(
    merchant_api, paid, payments_server, monkeypatch, django_capture_on_commit_callbacks
):
    """refundquery CHANGE (frozen or void card): not refunded, not refundable again, flagged."""
    published = []
    monkeypatch.setattr(events, "_publish", lambda groups, message: published.append(message))
    row = Refund.objects.get(pk=refund(merchant_api, paid, 300).json()["id"])
    script_outcome(payments_server, row, "CHANGE")
    with django_capture_on_commit_callbacks(execute=True):
        query_once(row)
    paid.refresh_from_db()
    assert (row.state, row.provider_status, row.err_code) == ("needs_manual", "CHANGE", "CHANGE")
    assert (paid.refunded_fen, paid.refund_reserved_fen, paid.refundable_fen) == (0, 300, 700)
    assert published[-1]["type"] == "refund.updated"
    assert published[-1]["state"] == "needs_manual"
    bounces = AuditEntry.objects.filter(target_id=str(row.pk), action="refund.bounce")
    assert bounces.count() == 1
    # People find it; the bounced amount cannot be refunded a second time meanwhile.
    listed = merchant_api.get("/api/v1/refunds/?state=needs_manual").json()["results"]
    assert [(r["id"], r["provider_status"]) for r in listed] == [(row.pk, "CHANGE")]
    assert refund(merchant_api, paid, 701).json()["error"]["code"] == "refund_exceeds_payment"
    # Still followed, slowly; still CHANGE: nothing moves.
    assert row.follow_up == "query_refund"
    assert (row.next_check_at - timezone.now()).total_seconds() > 3000
    query_once(row)
    assert row.state == "needs_manual" and bounces.count() == 1
    # Handled by hand on the provider's platform: the provider settles it, and so does the row.
    script_outcome(payments_server, row, "SUCCESS")
    query_once(row)
    paid.refresh_from_db()
    assert row.state == "succeeded" and row.follow_up == ""
    assert (paid.refunded_fen, paid.refundable_fen) == (300, 700)


def test_a_closed_refund_fails_and_gives_its_amount_back(merchant_api, paid, payments_server):
    row = Refund.objects.get(pk=refund(merchant_api, paid, 300).json()["id"])
    script_outcome(payments_server, row, "REFUNDCLOSE")
    query_once(row)
    paid.refresh_from_db()
    assert (row.state, row.provider_status) == ("failed", "REFUNDCLOSE")
    assert paid.refundable_fen == 1000

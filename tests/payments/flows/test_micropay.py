"""Micropay through the API and the sandbox: every test code, polling, deadline, reversal."""

import pytest

from payments.models import GatewayCall, Payment
from tenancy.models import AuditEntry
from tests.payments import helpers as codes
from tests.payments.flows.drive import settle, step

pytestmark = pytest.mark.slow
OTHER = "other valid code"


def pay(api, shop, auth_code, amount_fen=1234, **extra):
    auth_code = codes.fresh_code() if auth_code == OTHER else auth_code
    body = {"terminal": shop.a.terminal.pk, "amount_fen": amount_fen, "auth_code": auth_code}
    return api.post("/api/v1/payments/", {**body, **extra}, format="json")


def test_a_till_code_that_pays_at_once_succeeds_in_the_same_request(shop, merchant_api):
    response = pay(merchant_api, shop, codes.PAID)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["state"] == "succeeded" and body["transaction_id"]
    assert body["auth_code_masked"] == "13************0001"
    assert codes.PAID not in response.content.decode()
    payment = Payment.objects.get(pk=body["id"])
    assert payment.follow_up == "" and payment.amount_fen == 1234


def test_the_payment_code_is_never_stored_or_recorded_in_clear(shop, merchant_api):
    code = codes.fresh_code()
    response = pay(merchant_api, shop, code)
    payment = Payment.objects.get(pk=response.json()["id"])
    rows = [
        *Payment.objects.filter(pk=payment.pk).values(),
        *GatewayCall.objects.filter(out_trade_no=payment.out_trade_no).values(),
        *AuditEntry.objects.filter(target_id=str(payment.pk)).values(),
    ]
    assert code not in repr(rows)


@pytest.mark.parametrize(
    ("code", "first", "final", "actions"),
    [
        (codes.PAID, "succeeded", "succeeded", []),
        (OTHER, "succeeded", "succeeded", []),
        (codes.USERPAYING_THEN_PAID, "paying", "succeeded", ["query"]),
        (codes.SYSTEMERROR_BUT_PAID, "paying", "succeeded", ["query"]),
        (codes.NOTENOUGH, "failed", "failed", ["reverse"]),
        (codes.AUTHCODEEXPIRE, "failed", "failed", ["reverse"]),
    ],
)
def test_every_sandbox_code_reaches_its_outcome(shop, merchant_api, code, first, final, actions):
    response = pay(merchant_api, shop, code)
    assert response.status_code == 201, response.json()
    assert response.json()["state"] == first
    payment = Payment.objects.get(pk=response.json()["id"])
    assert settle(payment) == actions
    assert payment.state == final
    if final == "succeeded":
        assert payment.transaction_id and payment.paid_at
    if code in (codes.NOTENOUGH, codes.AUTHCODEEXPIRE):
        # The loop is closed at the provider, yet the customer's failure stands.
        assert payment.err_code in ("NOTENOUGH", "AUTHCODEEXPIRE")
        assert payment.trade_state == "REVOKED"


def test_polling_continues_while_the_customer_confirms_then_succeeds(shop, merchant_api):
    payment = Payment.objects.get(pk=pay(merchant_api, shop, codes.USERPAYING_FOREVER).json()["id"])
    assert payment.state == "paying" and payment.follow_up == "query"
    for _ in range(3):
        assert step(payment) == "query"
        assert payment.state == "paying" and payment.follow_up == "query"


def test_at_the_deadline_an_unconfirmed_payment_is_reversed_with_recall(shop, merchant_api):
    payment = Payment.objects.get(pk=pay(merchant_api, shop, codes.USERPAYING_FOREVER).json()["id"])
    actions = settle(payment, past_deadline=True)
    # The last query at the deadline, then reverse; the sandbox answers recall=Y once.
    assert actions == ["query", "reverse", "reverse"]
    assert payment.state == "reversed" and payment.trade_state == "REVOKED"
    calls = list(
        GatewayCall.objects.filter(out_trade_no=payment.out_trade_no)
        .order_by("id")
        .values_list("endpoint", flat=True)
    )
    assert calls == ["micropay", "orderquery", "reverse", "reverse"]


def test_a_payment_is_never_reversed_before_fifteen_seconds(shop, merchant_api, settings):
    payment = Payment.objects.get(pk=pay(merchant_api, shop, codes.NOTENOUGH).json()["id"])
    assert payment.follow_up == "reverse"
    assert (payment.next_check_at - payment.submitted_at).total_seconds() >= 15


def test_no_answer_leaves_the_payment_unknown_then_it_is_reversed(shop, merchant_api):
    response = pay(merchant_api, shop, codes.NO_ANSWER)
    assert response.json()["state"] == "paying"
    payment = Payment.objects.get(pk=response.json()["id"])
    assert payment.err_code == "GatewayUnavailable"
    assert step(payment) == "query"  # ORDERNOTEXIST: the request may still be in flight
    assert payment.state == "paying"
    settle(payment, past_deadline=True)
    assert payment.state == "reversed"


def test_an_invalid_code_is_refused_before_the_provider(shop, merchant_api):
    response = pay(merchant_api, shop, codes.INVALID)
    assert response.status_code == 400
    assert "auth_code" in response.json()["error"]["fields"]
    assert not Payment.objects.exists()


def test_every_transition_is_audited_with_its_actor(shop, merchant_api):
    payment = Payment.objects.get(
        pk=pay(merchant_api, shop, codes.USERPAYING_THEN_PAID).json()["id"]
    )
    settle(payment)
    entries = AuditEntry.objects.filter(
        target_type="payments.payment", target_id=str(payment.pk)
    ).order_by("created_at", "id")
    assert [e.action for e in entries] == ["payment.create", "payment.submit", "payment.succeed"]
    assert entries[0].actor_kind == "api_key" and entries[2].actor_kind == "system"
    assert entries[2].metadata == {"from": "paying", "to": "succeeded"}

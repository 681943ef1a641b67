"""The payments API: bad input, busy terminals, cancel, lists (query counts, filters, cursor)."""

import pytest

from payments.models import Payment
from tests.payments import helpers as codes
from tests.payments.flows.drive import settle

pytestmark = pytest.mark.slow


def create(api, terminal, **body):
    return api.post("/api/v1/payments/", {"terminal": terminal.pk, "amount_fen": 100, **body},
                    format="json")  # fmt: skip


@pytest.mark.parametrize("amount", [0, -5, 5_000_001, "12.5"])
def test_an_amount_out_of_bounds_is_refused(shop, merchant_api, amount):
    response = create(merchant_api, shop.a.terminal, amount_fen=amount)
    assert response.status_code == 400 and "amount_fen" in response.json()["error"]["fields"]
    assert not Payment.objects.exists()


def test_another_tenants_terminal_is_refused_as_if_it_did_not_exist(shop, merchant_api):
    foreign = create(merchant_api, shop.b.terminal)
    missing = merchant_api.post("/api/v1/payments/", {"terminal": 10**9, "amount_fen": 100},
                                format="json")  # fmt: skip
    assert foreign.status_code == missing.status_code == 400
    for response, pk in ((foreign, shop.b.terminal.pk), (missing, 10**9)):
        assert response.json()["error"]["fields"] == {
            "terminal": [f'Invalid pk "{pk}" - object does not exist.']
        }
    assert not Payment.objects.exists()


def test_a_merchant_that_cannot_take_payments_is_refused(shop, merchant_api):
    type(shop.a.merchant).objects.filter(pk=shop.a.merchant.pk).update(onboarding_state="signing",
                                                                       sub_mch_id=None)  # fmt: skip
    response = create(merchant_api, shop.a.terminal)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "merchant_cannot_take_payments"


def test_a_busy_terminal_answers_409(shop, merchant_api):
    assert create(merchant_api, shop.a.terminal).json()["state"] == "awaiting_scan"
    busy = create(merchant_api, shop.a.terminal)
    assert busy.status_code == 409 and busy.json()["error"]["code"] == "terminal_busy"


def test_cancelling_a_prompt_closes_it_at_once(shop, merchant_api):
    payment = create(merchant_api, shop.a.terminal).json()
    response = merchant_api.post(f"/api/v1/payments/{payment['id']}/cancel/")
    assert response.status_code == 200 and response.json()["state"] == "closed"
    assert create(merchant_api, shop.a.terminal).status_code == 201  # the terminal is free again


def test_cancelling_a_paying_payment_reverses_it(shop, merchant_api):
    created = create(merchant_api, shop.a.terminal, auth_code=codes.USERPAYING_FOREVER).json()
    response = merchant_api.post(f"/api/v1/payments/{created['id']}/cancel/")
    assert response.status_code == 200 and response.json()["cancel_requested_at"]
    payment = Payment.objects.get(pk=created["id"])
    assert payment.follow_up == "reverse"
    assert (payment.next_check_at - payment.submitted_at).total_seconds() >= 15
    settle(payment)
    assert payment.state == "reversed"


def test_a_settled_payment_cannot_be_cancelled(shop, merchant_api):
    created = create(merchant_api, shop.a.terminal, auth_code=codes.PAID).json()
    response = merchant_api.post(f"/api/v1/payments/{created['id']}/cancel/")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "illegal_transition"


def test_lists_cost_the_same_queries_whatever_their_length(shop, merchant_api,
                                                           django_assert_max_num_queries):  # fmt: skip
    for _ in range(3):
        created = create(merchant_api, shop.a.terminal, auth_code=codes.PAID)
        assert created.json()["state"] == "succeeded"
    with django_assert_max_num_queries(6):
        page = merchant_api.get("/api/v1/payments/?limit=2&state=succeeded").json()
    assert len(page["results"]) == 2 and page["next"]
    rest = merchant_api.get(page["next"]).json()
    assert len(rest["results"]) == 1
    ids = [p["id"] for p in page["results"] + rest["results"]]
    assert ids == sorted(ids, reverse=True)

"""Follow-ups survive lost chains: the dispatcher's sweep, duplicate deliveries, a real worker."""

import httpx
import pytest
from django.utils import timezone

from payments import tasks
from payments.models import GatewayCall, Payment
from payments.services import follow_ups
from tenancy.principals import Principal
from tenancy.services.api_keys import api_key_create
from tests.conftest import wait_until
from tests.payments import helpers as codes
from tests.payments.helpers import make_due, online_terminal, ready_merchant, succeeded_soon

pytestmark = pytest.mark.slow


def paying(shop, api, code=codes.USERPAYING_THEN_PAID) -> Payment:
    body = {"terminal": shop.a.terminal.pk, "amount_fen": 321, "auth_code": code}
    payment = Payment.objects.get(
        pk=api.post("/api/v1/payments/", body, format="json").json()["id"]
    )
    assert payment.state == "paying" and payment.follow_up == "query"
    return payment


def overdue(payment, seconds=60) -> None:
    Payment.objects.filter(pk=payment.pk).update(
        next_check_at=timezone.now() - timezone.timedelta(seconds=seconds)
    )


def test_the_sweep_resumes_a_payment_whose_chain_was_lost(shop, merchant_api):
    """No task was ever run for this payment (its worker died): the sweep finds and resumes it."""
    payment = paying(shop, merchant_api)
    overdue(payment)
    assert follow_ups.due_dispatch() == 1
    assert follow_ups.due_dispatch() == 0  # sent once per lease, not on every beat
    tasks.payment_follow_up(payment.pk)  # the task the sweep sent, as a worker runs it
    succeeded_soon(payment)


def test_the_poller_sends_a_row_as_soon_as_it_is_due(shop, merchant_api, settings):
    settings.PAYMENTS_FOLLOW_UP_MODE = "poller"
    payment = paying(shop, merchant_api)
    assert follow_ups.due_dispatch() == 0  # first query due in 5 s
    make_due(payment)
    assert follow_ups.due_dispatch() == 1


def test_in_countdown_mode_the_sweep_leaves_rows_due_but_not_overdue(shop, merchant_api, settings):
    settings.PAYMENTS_FOLLOW_UP_MODE = "countdown"
    payment = paying(shop, merchant_api)
    make_due(payment)  # due now: its countdown task is on its way
    assert follow_ups.due_dispatch() == 0
    overdue(payment)
    assert follow_ups.due_dispatch() == 1


def test_a_worker_that_died_mid_action_is_recovered_after_its_lease(shop, merchant_api):
    payment = paying(shop, merchant_api)
    make_due(payment)
    assert follow_ups.claim(Payment, payment.pk) is not None  # claimed, then the worker died
    assert follow_ups.due_dispatch(grace=0) == 0  # the lease holds it
    overdue(payment)  # the lease ran out
    assert follow_ups.due_dispatch(grace=0) == 1
    tasks.payment_follow_up(payment.pk)
    succeeded_soon(payment)


def test_a_task_delivered_twice_acts_once(shop, merchant_api):
    payment = paying(shop, merchant_api)
    make_due(payment)
    tasks.payment_follow_up(payment.pk)
    tasks.payment_follow_up(payment.pk)
    assert GatewayCall.objects.filter(out_trade_no=payment.out_trade_no,
                                      endpoint="orderquery").count() == 1  # fmt: skip
    payment.refresh_from_db()
    assert payment.state == "succeeded"


def test_a_task_for_a_vanished_payment_does_nothing(db):
    tasks.payment_follow_up(987654321)


@pytest.mark.django_db(transaction=True)
def test_polling_to_success_through_a_real_worker(world, payments_server, payments_worker):
    """The API answers USERPAYING; beat's dispatcher and the worker query and find it paid."""
    ready_merchant(world.a, "a")
    terminal = online_terminal(world.a)
    _key, raw = api_key_create(actor=Principal.system("t"), merchant=world.a.merchant, name="k")
    response = httpx.post(f"{payments_server}/api/v1/payments/",
                          headers={"Authorization": f"Api-Key {raw}"}, timeout=20,
                          json={"terminal": terminal.pk, "amount_fen": 450,
                                "auth_code": codes.USERPAYING_THEN_PAID})  # fmt: skip
    assert response.json()["state"] == "paying"
    payment = Payment.objects.get(pk=response.json()["id"])

    def settled() -> bool:
        payment.refresh_from_db()
        return payment.state != "paying"

    wait_until(settled, timeout=30, what="the worker to settle the payment")
    assert payment.state == "succeeded" and payment.follow_up == ""

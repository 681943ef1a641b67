"""Micropay orderqueries in batches on an event loop (payments.services.query_batch)."""

import pytest
from django.utils import timezone

from config import loop_thread
from payments import tasks
from payments.models import GatewayCall, Payment
from payments.schedule import micropay_next_query
from payments.services import follow_ups
from payments.services.payments import current_schedule, payment_cancel
from tenancy.principals import Principal
from tests.payments import helpers as codes
from tests.payments.helpers import age, make_due, online_terminal, succeeded_soon

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _loop_closed_after():
    """The batches run on the process's loop thread; its connections must not outlive the test."""
    yield
    loop_thread.stop()


def paying(api, terminal, code) -> Payment:
    body = {"terminal": terminal.pk, "amount_fen": 321, "auth_code": code}
    response = api.post("/api/v1/payments/", body, format="json")
    payment = Payment.objects.get(pk=response.json()["id"])
    assert payment.state == "paying" and payment.follow_up == "query"
    return payment


def queries(payment: Payment) -> int:
    return GatewayCall.objects.filter(out_trade_no=payment.out_trade_no,
                                      endpoint="orderquery").count()  # fmt: skip


def test_a_batch_reschedules_the_unconfirmed_and_settles_the_paid(shop, merchant_api):
    waiting = paying(merchant_api, shop.a.terminal, codes.USERPAYING_FOREVER)
    paid = paying(merchant_api, online_terminal(shop.a), codes.USERPAYING_THEN_PAID)
    for payment in (waiting, paid):
        make_due(payment)
    before = timezone.now()

    tasks.payment_queries([waiting.pk, paid.pk])

    waiting.refresh_from_db()
    paid.refresh_from_db()
    assert (waiting.state, waiting.follow_up, waiting.trade_state) == ("paying", "query",
                                                                      "USERPAYING")  # fmt: skip
    expected = micropay_next_query(submitted_at=waiting.submitted_at, now=before,
                                   s=current_schedule())  # fmt: skip
    assert expected <= waiting.next_check_at <= expected + timezone.timedelta(seconds=5)
    assert paid.state == "succeeded" and paid.follow_up == "" and paid.transaction_id
    assert queries(waiting) == queries(paid) == 1


def test_rows_not_due_or_claimed_already_are_left_alone(shop, merchant_api):
    payment = paying(merchant_api, shop.a.terminal, codes.USERPAYING_THEN_PAID)
    tasks.payment_queries([payment.pk])  # its first query is due in 5 s
    make_due(payment)
    assert follow_ups.claim(Payment, payment.pk) is not None  # a task per row took it
    tasks.payment_queries([payment.pk])
    assert queries(payment) == 0
    payment.refresh_from_db()
    assert payment.state == "paying"


def test_the_poller_batches_micropay_queries_and_nothing_else(shop, merchant_api, settings):
    settings.PAYMENTS_FOLLOW_UP_MODE = "poller"
    query = paying(merchant_api, shop.a.terminal, codes.USERPAYING_THEN_PAID)
    reverse = paying(merchant_api, online_terminal(shop.a), codes.USERPAYING_FOREVER)
    make_due(query)
    make_due(reverse, follow_up="reverse")
    # What the dispatcher claims and how it sends each (claiming sends no task a worker could run).
    claimed = dict(follow_ups._claim_due(Payment, limit=10, grace=0))
    assert claimed == {query.pk: True, reverse.pk: False}
    tasks.payment_queries([query.pk])  # the batch task it would send
    succeeded_soon(query)


def test_countdown_mode_sends_a_task_per_row(shop, merchant_api, settings):
    settings.PAYMENTS_FOLLOW_UP_MODE = "countdown"
    payment = paying(merchant_api, shop.a.terminal, codes.USERPAYING_THEN_PAID)
    make_due(payment)
    assert dict(follow_ups._claim_due(Payment, limit=10, grace=0)) == {payment.pk: False}


def test_a_payment_past_its_deadline_goes_to_the_general_path_and_is_reversed(shop, merchant_api):
    payment = paying(merchant_api, shop.a.terminal, codes.USERPAYING_FOREVER)
    age(payment, 46)
    make_due(payment)
    tasks.payment_queries([payment.pk])
    payment.refresh_from_db()
    assert payment.state == "paying" and payment.follow_up == "reverse"
    assert queries(payment) == 1


def test_a_payment_cancelled_after_dispatch_is_released_for_its_reverse(shop, merchant_api):
    payment = paying(merchant_api, shop.a.terminal, codes.USERPAYING_FOREVER)
    age(payment, 20)  # past the provider's 15 s: the reverse is due at once
    make_due(payment)
    # Sent in a batch: what the dispatcher marks (sending no task a session worker could take).
    Payment.objects.filter(pk=payment.pk).update(dispatched_at=timezone.now())
    payment_cancel(actor=Principal.system("cashier"), payment_id=payment.pk)
    tasks.payment_queries([payment.pk])
    payment.refresh_from_db()
    assert queries(payment) == 0 and payment.follow_up == "reverse"
    assert payment.dispatched_at is None  # the next dispatch sends the reverse, not in a minute

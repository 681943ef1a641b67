"""A cashier sees its store's business of today (the Beijing business day) and today's sales;
merchant and enterprise roles keep the whole history."""

import itertools
from datetime import UTC, date, datetime, timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from payments.business_day import business_day, business_day_bounds, today_bounds
from payments.models import Payment, Refund
from tenancy.principals import Principal
from tenancy.scoping import scope
from tenancy.services.api_keys import api_key_create
from tests.terminals.factories import active

_numbers = itertools.count(1)


@pytest.fixture
def shop(world):
    world.a.terminal, _ = active(world.a)
    return world


def pay(tenant, *, fen=1000, state="succeeded", at=None, store=None) -> Payment:
    """A payment row made `at` (default now); paid then too when it succeeded."""
    at = at or timezone.now()
    store = store or tenant.store
    payment = Payment.objects.create(
        enterprise=tenant.enterprise, merchant=tenant.merchant, store=store,
        terminal=tenant.terminal, kind="micropay", state=state, amount_fen=fen,
        description="today", out_trade_no=f"SYTODAY{next(_numbers):020d}",
        sub_mch_id="1900000109", created_by="tests",
    )  # fmt: skip
    paid_at = at if state == "succeeded" else None
    Payment.objects.filter(pk=payment.pk).update(created_at=at, paid_at=paid_at)
    payment.refresh_from_db()
    return payment


def refund(payment, *, fen, state="processing", at=None) -> Refund:
    row = Refund.objects.create(
        enterprise=payment.enterprise, merchant=payment.merchant, store=payment.store,
        payment=payment, amount_fen=fen, state=state,
        out_refund_no=f"RFTODAY{next(_numbers):020d}", created_by="tests",
    )  # fmt: skip
    Refund.objects.filter(pk=row.pk).update(created_at=at or timezone.now())
    return row


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def ids(response) -> set[int]:
    assert response.status_code == 200, response.json()
    return {row["id"] for row in response.json()["results"]}


def yesterday() -> datetime:
    start, _ = today_bounds()
    return start - timedelta(hours=3)


def test_a_cashier_lists_only_todays_payments_and_no_parameter_widens_it(shop):
    today = pay(shop.a)
    old = pay(shop.a, at=yesterday())
    still_open = pay(shop.a, state="paying", at=yesterday())  # started before midnight
    cashier = client_for(shop.a.cashier)
    assert ids(cashier.get("/api/v1/payments/")) == {today.pk, still_open.pk}
    for widening in ("?created_after=2000-01-01T00:00:00Z", f"?store={shop.a.store.pk}",
                     "?state=succeeded", f"?out_trade_no={old.out_trade_no}"):  # fmt: skip
        assert old.pk not in ids(cashier.get(f"/api/v1/payments/{widening}")), widening
    assert cashier.get(f"/api/v1/payments/{old.pk}/").status_code == 404
    assert cashier.get(f"/api/v1/payments/{today.pk}/").status_code == 200


def test_a_payment_paid_today_counts_as_today_even_if_made_yesterday(shop):
    late = pay(shop.a, state="succeeded", at=yesterday())
    Payment.objects.filter(pk=late.pk).update(paid_at=timezone.now())
    assert late.pk in ids(client_for(shop.a.cashier).get("/api/v1/payments/"))


def test_the_day_starts_at_midnight_beijing_time(shop, settings):
    """TIME_ZONE only chooses the display: the business day is the provider's bill day."""
    settings.TIME_ZONE = "UTC"
    start, end = today_bounds()
    assert start.astimezone(timezone.get_fixed_timezone(480)).time().isoformat() == "00:00:00"
    assert end - start == timedelta(days=1)
    before = pay(shop.a, at=start - timedelta(seconds=1))
    first = pay(shop.a, at=start)
    assert ids(client_for(shop.a.cashier).get("/api/v1/payments/")) == {first.pk}
    assert (
        business_day(start) == business_day() and business_day(before.created_at) < business_day()
    )


def test_business_day_bounds_are_beijing_days():
    start, end = business_day_bounds(date(2026, 11, 25))
    assert start == datetime(2026, 11, 24, 16, 0, tzinfo=UTC)
    assert end == datetime(2026, 11, 25, 16, 0, tzinfo=UTC)


@pytest.mark.parametrize("role", ["merchant_manager", "enterprise_admin", "auditor", "ops_admin"])
def test_other_roles_keep_the_whole_history(shop, role):
    old = pay(shop.a, at=yesterday() - timedelta(days=30))
    client = client_for(shop.user(role))
    assert old.pk in ids(client.get("/api/v1/payments/"))
    assert client.get(f"/api/v1/payments/{old.pk}/").status_code == 200


def test_an_api_key_keeps_the_whole_history(shop):
    old = pay(shop.a, at=yesterday())
    _key, raw = api_key_create(actor=Principal.system("tests"), merchant=shop.a.merchant,
                               name="erp")  # fmt: skip
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    assert old.pk in ids(client.get("/api/v1/payments/"))


def test_a_cashier_who_also_manages_the_merchant_sees_everything_through_that_grant(shop):
    from tests.tenancy.factories import MembershipFactory

    MembershipFactory(user=shop.a.cashier, role="merchant_manager",
                      enterprise=shop.a.enterprise, merchant=shop.a.merchant)  # fmt: skip
    old = pay(shop.a, at=yesterday())
    assert old.pk in ids(client_for(shop.a.cashier).get("/api/v1/payments/"))


def test_a_cashier_lists_only_refunds_requested_today(shop):
    paid_yesterday = pay(shop.a, at=yesterday())
    todays = refund(paid_yesterday, fen=100)
    older = refund(paid_yesterday, fen=200, at=yesterday())
    cashier = client_for(shop.a.cashier)
    assert ids(cashier.get("/api/v1/refunds/")) == {todays.pk}
    assert cashier.get(f"/api/v1/refunds/{older.pk}/").status_code == 404
    manager = client_for(shop.a.manager)
    assert ids(manager.get("/api/v1/refunds/")) == {todays.pk, older.pk}


def test_the_scope_itself_is_narrowed_for_services_too(shop):
    old = pay(shop.a, at=yesterday())
    cashier = Principal.for_user(shop.a.cashier)
    assert not scope(cashier, Payment).filter(pk=old.pk).exists()
    assert scope(Principal.for_user(shop.a.manager), Payment).filter(pk=old.pk).exists()


# --- today's sales -------------------------------------------------------------------------------


@pytest.fixture
def day_of_sales(shop):
    a = shop.a
    sold = [pay(a, fen=1000), pay(a, fen=250)]
    pay(a, fen=999, state="failed")
    pay(a, fen=5000, state="paying")
    earlier = pay(a, fen=700, at=yesterday())
    refund(earlier, fen=300, state="succeeded")  # today's refund of yesterday's sale: counts
    refund(sold[0], fen=100, state="needs_manual")  # bounced, money left the merchant: counts
    refund(sold[0], fen=50, state="failed")  # refused: nothing moved
    refund(earlier, fen=400, state="succeeded", at=yesterday())  # yesterday's business
    pay(a, fen=8000, store=a.store2)  # the cashier's merchant, another store
    shop.b.terminal, _ = active(shop.b)
    pay(shop.b, fen=12345)  # another tenant
    return shop


def test_a_cashier_gets_todays_sales_of_its_store_in_fen(day_of_sales):
    body = client_for(day_of_sales.a.cashier).get("/api/v1/payments/today/").json()
    assert body["business_day"] == business_day().isoformat()
    assert body["time_zone"] == "Asia/Shanghai"
    assert (body["payments_count"], body["payments_fen"]) == (2, 1250)
    assert (body["refunds_count"], body["refunds_fen"]) == (2, 400)
    assert body["net_fen"] == 850


def test_a_merchant_manager_gets_every_store_and_may_pick_one(day_of_sales):
    manager = client_for(day_of_sales.a.manager)
    every = manager.get("/api/v1/payments/today/").json()
    assert (every["payments_count"], every["payments_fen"], every["net_fen"]) == (3, 9250, 8850)
    one = manager.get(f"/api/v1/payments/today/?store={day_of_sales.a.store2.pk}").json()
    assert (one["payments_fen"], one["refunds_fen"]) == (8000, 0)
    # Another tenant's store sums nothing: the scope comes first.
    foreign = manager.get(f"/api/v1/payments/today/?store={day_of_sales.b.store.pk}").json()
    assert (foreign["payments_count"], foreign["payments_fen"]) == (0, 0)


def test_todays_sales_refuses_a_bad_store_and_unknown_parameters(day_of_sales):
    cashier = client_for(day_of_sales.a.cashier)
    assert cashier.get("/api/v1/payments/today/?store=abc").status_code == 400
    assert cashier.get("/api/v1/payments/today/?since=2000-01-01").status_code == 400


def test_todays_sales_costs_two_queries(day_of_sales, django_assert_max_num_queries):
    cashier = client_for(day_of_sales.a.cashier)
    cashier.get("/api/v1/payments/today/")  # session and principal warm-up
    with django_assert_max_num_queries(6):
        assert cashier.get("/api/v1/payments/today/").status_code == 200

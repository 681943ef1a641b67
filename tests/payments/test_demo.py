"""The demo world's day of payments."""

import pytest

from config.demo import load_demo_world
from payments.models import Payment, Refund

pytestmark = pytest.mark.django_db


def test_the_demo_world_has_a_day_of_payments_once():
    load_demo_world()
    payments = Payment.objects.filter(created_by="demo")
    assert payments.count() > 0
    assert payments.filter(state="succeeded").exists() and payments.exclude(state="succeeded")
    assert all(p.refunded_fen <= p.amount_fen for p in payments)
    count, refunds = payments.count(), Refund.objects.count()
    load_demo_world()
    assert (Payment.objects.filter(created_by="demo").count(), Refund.objects.count()) == (
        count,
        refunds,
    )

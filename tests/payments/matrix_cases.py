"""Permission-matrix expectations for the payments routes (see tests/tenancy/matrix.py).

Taking and cancelling payments: cashiers of the store and the merchant's API keys. Refunds:
enterprise admins, merchant managers and API keys. Reading: everyone who sees the store (a
cashier only today's business: the rows made here are today's). Today's sales: every signed-in
principal, summed over what it sees (nothing for an outsider: zeros, not an error).
"""

from datetime import timedelta

from django.utils import timezone

from payments.models import Payment, Refund
from tests.payments.helpers import online_terminal, ready_merchant
from tests.tenancy.matrix import Case, codes

READERS = codes(200, anonymous=403, outsider=404)
TAKERS = codes(403, outsider=404, cashier=200, api_key=200)
REFUNDERS = codes(403, outsider=404, enterprise_admin=201, merchant_manager=201, api_key=201)


def _tag(world, tenant) -> str:
    return "a" if tenant is world.a else "b"


def _terminal(world, tenant):
    ready_merchant(tenant, _tag(world, tenant))
    return online_terminal(tenant)


def _payment(world, tenant, state: str) -> Payment:
    terminal = _terminal(world, tenant)
    return Payment.objects.create(
        enterprise=tenant.enterprise, merchant=tenant.merchant, store=tenant.store,
        terminal=terminal, kind="micropay", state=state, amount_fen=1000, description="matrix",
        out_trade_no=f"SYMATRIX{terminal.pk:012d}", sub_mch_id=tenant.merchant.sub_mch_id,
        created_by="matrix", paid_at=timezone.now() if state == "succeeded" else None,
    )  # fmt: skip


def yesterdays(world, tenant) -> dict:
    payment = _payment(world, tenant, "succeeded")
    yesterday = timezone.now() - timedelta(days=1)
    Payment.objects.filter(pk=payment.pk).update(created_at=yesterday, paid_at=yesterday)
    return {"kwargs": {"pk": payment.pk}}


def create_body(world, tenant) -> dict:
    return {"body": {"terminal": _terminal(world, tenant).pk, "amount_fen": 100}}


def payment_in(state: str):
    def target(world, tenant) -> dict:
        return {"kwargs": {"pk": _payment(world, tenant, state).pk}, "body": {}}

    return target


def refundable(world, tenant) -> dict:
    return {"kwargs": {"pk": _payment(world, tenant, "succeeded").pk}, "body": {"amount_fen": 10}}


def refund_row(world, tenant) -> dict:
    payment = _payment(world, tenant, "succeeded")
    refund = Refund.objects.create(
        enterprise=tenant.enterprise, merchant=tenant.merchant, store=tenant.store,
        payment=payment, amount_fen=10, out_refund_no=f"RFMATRIX{payment.pk:012d}",
        created_by="matrix",
    )  # fmt: skip
    return {"kwargs": {"pk": refund.pk}}


CASES = [
    Case("payment-list", "get", codes(200, anonymous=403), model=Payment, foreign=None),
    Case(
        "payment-list",
        "post",
        codes(403, outsider=400, cashier=201, api_key=201),
        target=create_body,
        foreign=400,
    ),
    Case("payment-detail", "get", READERS, target=payment_in("succeeded")),
    Case(
        "payment-detail",
        "get",
        codes(200, anonymous=403, outsider=404, cashier=404),
        target=yesterdays,
        label="yesterday's: not a cashier's",
    ),
    Case("payment-today", "get", codes(200, anonymous=403), foreign=None),
    Case("payment-cancel", "post", TAKERS, target=payment_in("awaiting_scan")),
    Case("payment-refund", "post", REFUNDERS, target=refundable),
    Case("refund-list", "get", codes(200, anonymous=403), model=Refund, foreign=None),
    Case("refund-detail", "get", READERS, target=refund_row),
]

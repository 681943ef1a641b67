"""Reads of the payments app that are more than a scoped list: the day's sales."""

from dataclasses import dataclass
from datetime import date, datetime

from django.db.models import Count, Sum
from django.db.models.functions import Coalesce

from payments.business_day import business_day, business_day_bounds
from payments.models import Payment, PaymentState, Refund, RefundState
from tenancy.principals import Principal
from tenancy.scoping import scope


@dataclass(frozen=True)
class SalesSummary:
    business_day: date
    starts_at: datetime
    ends_at: datetime
    payments_count: int
    payments_fen: int
    refunds_count: int
    refunds_fen: int

    @property
    def net_fen(self) -> int:
        return self.payments_fen - self.refunds_fen


def sales_today(
    *, actor: Principal, store_id: int | None = None, now: datetime | None = None
) -> SalesSummary:
    """Sum the current business day's sales over what the actor may see; two queries.

    Counted as the provider's bill counts the day (reference §7): payments that succeeded that
    day, and refunds requested that day that the provider has not refused (processing,
    succeeded, or bounced and waiting for manual handling) — whichever day their payment was.
    A cashier gets its store's; `store_id` narrows a wider principal to one store.
    """
    day = business_day(now)
    start, end = business_day_bounds(day)
    payments = scope(actor, Payment).filter(
        state=PaymentState.SUCCEEDED, paid_at__gte=start, paid_at__lt=end
    )
    refunds = scope(actor, Refund).filter(created_at__gte=start, created_at__lt=end)
    refunds = refunds.exclude(state=RefundState.FAILED)
    if store_id is not None:
        payments, refunds = payments.filter(store_id=store_id), refunds.filter(store_id=store_id)
    paid = payments.aggregate(count=Count("pk"), fen=Coalesce(Sum("amount_fen"), 0))
    refunded = refunds.aggregate(count=Count("pk"), fen=Coalesce(Sum("amount_fen"), 0))
    return SalesSummary(
        business_day=day, starts_at=start, ends_at=end,
        payments_count=paid["count"], payments_fen=paid["fen"],
        refunds_count=refunded["count"], refunds_fen=refunded["fen"],
    )  # fmt: skip

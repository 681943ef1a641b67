"""Read-side functions other apps call: what may take payments, quotas, who sees what."""

from django.db.models import Q, QuerySet

from tenancy.models import (
    OPERATING_ENTERPRISE_STATES,
    Enterprise,
    Merchant,
    OnboardingState,
    Store,
)
from tenancy.principals import Principal
from tenancy.scoping import scope

# The SQL form of Merchant.can_take_payments.
TAKES_PAYMENTS = Q(
    onboarding_state=OnboardingState.FINISHED,
    sub_mch_id__isnull=False,
    enterprise__state__in=OPERATING_ENTERPRISE_STATES,
)


def merchants_taking_payments(*, principal: Principal) -> QuerySet[Merchant]:
    """The visible merchants that can take payments now (finished and enterprise operating)."""
    return scope(principal, Merchant).filter(TAKES_PAYMENTS)


def store_can_take_payments(*, store: Store) -> bool:
    """Whether a store's merchant may take payments right now (re-read from the database)."""
    return Merchant.objects.filter(TAKES_PAYMENTS, pk=store.merchant_id).exists()


def enterprise_terminal_quota(*, enterprise_id: int) -> int:
    """The number of terminals the enterprise may hold (0 unless in trial or active)."""
    row = Enterprise.objects.filter(pk=enterprise_id).values("state", "terminal_quota").first()
    if row is None or row["state"] not in OPERATING_ENTERPRISE_STATES:
        return 0
    return row["terminal_quota"]

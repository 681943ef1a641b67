"""Run a row's follow-ups as the dispatcher would, one due step at a time."""

from payments.models import FollowUp, Payment, Refund
from payments.services.refunds import refund_follow_up
from payments.services.settle import payment_follow_up
from tests.payments.helpers import age, make_due


def step(payment: Payment) -> str | None:
    """Make the payment's follow-up due and run it once; return the action done."""
    make_due(payment)
    action = payment_follow_up(payment_id=payment.pk)
    payment.refresh_from_db()
    return action


def settle(payment: Payment, *, past_deadline: bool = False, limit: int = 20) -> list[str]:
    """Run follow-ups until none is left; return the actions. `past_deadline` ages the payment
    past the micropay deadline first (the customer never confirms in time)."""
    if past_deadline:
        age(payment, 46)
    actions = []
    for _ in range(limit):
        payment.refresh_from_db()
        if payment.follow_up == FollowUp.NONE:
            return actions
        actions.append(step(payment))
    raise AssertionError(f"payment {payment.pk} still has follow-ups after {limit}: {actions}")


def settle_refund(refund: Refund, limit: int = 10) -> list[str]:
    actions = []
    for _ in range(limit):
        refund.refresh_from_db()
        if refund.follow_up == FollowUp.NONE:
            return actions
        make_due(refund)
        actions.append(refund_follow_up(refund_id=refund.pk))
    raise AssertionError(f"refund {refund.pk} still has follow-ups: {actions}")

"""A day of payments for the demo world: what a store's history looks like after a day's trade.

Historical rows, written directly (the provider never saw them): mostly paid, some declined,
reversed or abandoned, a few refunded. Idempotent: a second run adds nothing.
"""

import random
from datetime import datetime, time, timedelta

from django.db import transaction
from django.utils import timezone

from payments.models import Payment, PaymentKind, PaymentState, Refund, RefundState
from payments.services.numbers import new_out_refund_no, new_out_trade_no

DEMO_AUTHOR = "demo"
OUTCOMES = [  # state, err_code, weight
    (PaymentState.SUCCEEDED, "", 86),
    (PaymentState.FAILED, "NOTENOUGH", 5),
    (PaymentState.FAILED, "AUTHCODEEXPIRE", 3),
    (PaymentState.REVERSED, "", 3),
    (PaymentState.CLOSED, "SCAN_TIMEOUT", 3),
]


def _terminals():
    from terminals.models import Terminal

    return list(
        Terminal.objects.filter(
            store__isnull=False,
            merchant__onboarding_state="finished",
            merchant__sub_mch_id__isnull=False,
        ).select_related("merchant", "store")[:8]
    )


@transaction.atomic
def load_payments_demo(*, per_terminal: int = 40, seed: int = 7) -> int:
    """Create a day of payments on the demo terminals of finished merchants; return how many."""
    if Payment.objects.filter(created_by=DEMO_AUTHOR).exists():
        return 0
    from terminals.demo import provision

    provision(4)  # demo terminals assigned to operating stores; the simulator activates them
    rng = random.Random(seed)
    tz = timezone.get_fixed_timezone(480)
    opening = datetime.combine(timezone.localdate(timezone=tz), time(9, 0), tzinfo=tz)
    created = 0
    for terminal in _terminals():
        for n in range(per_terminal):
            at = opening + timedelta(minutes=rng.uniform(0, 12 * 60) if n else 1)
            if at > timezone.now():
                at = timezone.now() - timedelta(minutes=rng.uniform(1, 60))
            _payment(terminal, at, rng)
            created += 1
    return created


def _payment(terminal, at, rng: random.Random) -> Payment:
    state, err_code, *_ = rng.choices(OUTCOMES, weights=[o[2] for o in OUTCOMES])[0]
    amount = rng.choice([350, 800, 1250, 1990, 2600, 4580, 9900, 12800])
    paid = state == PaymentState.SUCCEEDED
    payment = Payment.objects.create(
        enterprise_id=terminal.enterprise_id, merchant=terminal.merchant, store=terminal.store,
        terminal=terminal, kind=PaymentKind.MICROPAY if rng.random() < 0.8 else PaymentKind.NATIVE,
        state=state, amount_fen=amount, description=f"{terminal.merchant.name}-{terminal.store.name}",
        out_trade_no=new_out_trade_no(at), sub_mch_id=terminal.merchant.sub_mch_id,
        transaction_id=f"42000{rng.randrange(10**22):022d}" if paid else "",
        auth_code_masked="13************" + f"{rng.randrange(10**4):04d}", scan_source="terminal",
        err_code=err_code, trade_state="SUCCESS" if paid else "", created_by=DEMO_AUTHOR,
        submitted_at=at, paid_at=at + timedelta(seconds=2) if paid else None,
        finished_at=at + timedelta(seconds=2),
    )  # fmt: skip
    Payment.objects.filter(pk=payment.pk).update(created_at=at, updated_at=at)
    if paid and rng.random() < 0.05:
        refund = Refund.objects.create(
            enterprise_id=payment.enterprise_id, merchant=payment.merchant, store=payment.store,
            payment=payment, state=RefundState.SUCCEEDED, amount_fen=amount // 2,
            reason="demo: returned goods", out_refund_no=new_out_refund_no(at),
            created_by=DEMO_AUTHOR, succeeded_at=at + timedelta(minutes=30),
        )  # fmt: skip
        Payment.objects.filter(pk=payment.pk).update(
            refund_reserved_fen=refund.amount_fen, refunded_fen=refund.amount_fen
        )
    return payment

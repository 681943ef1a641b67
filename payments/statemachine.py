"""The payment and refund lifecycles, moved by tenancy's state-machine helper.

    payment: created → awaiting_scan → paying → succeeded | failed | closed | reversed
             failed | closed → succeeded   (succeed_after_close, see below)
    refund:  created → processing → succeeded | failed | needs_manual
             needs_manual → succeeded | failed   (the provider settles it once handled by hand)

`move()` (tenancy.statemachine) locks the row, refuses an illegal action with a 409, saves and
writes the audit row in the same transaction. Provider truth wins over a local final state: an
order the provider reports paid (orderquery, closeorder's ORDERPAID, a verified notification)
after it was failed or closed here took the customer's money (a reversed one did not: the
reversal refunds a paid order, so `reversed` is final). It moves by its own action,
`succeed_after_close`, so the audit log names it; payments.services.payments flags the row
`paid_after_close` and refunds it in full. `succeed` itself leaves only open states.
"""

from payments.models import Payment, PaymentState, Refund, RefundState
from tenancy.statemachine import IllegalTransition, StateMachine, Transition, move

__all__ = ["IllegalTransition", "move", "payment_machine", "refund_machine"]

P = PaymentState
R = RefundState

payment_machine = StateMachine(
    Payment,
    field="state",
    name="payment",
    actions={
        # A micropay waiting for the terminal's scanner; a native order showing its QR code.
        "prompt": Transition(sources={P.CREATED}, target=P.AWAITING_SCAN),
        # The pay call is about to be sent: from here on the outcome is the provider's.
        "submit": Transition(sources={P.CREATED, P.AWAITING_SCAN}, target=P.PAYING),
        "succeed": Transition(sources={P.CREATED, P.AWAITING_SCAN, P.PAYING}, target=P.SUCCEEDED),
        # The provider took the money after this side had given the payment up.
        "succeed_after_close": Transition(sources={P.FAILED, P.CLOSED}, target=P.SUCCEEDED),
        "fail": Transition(sources={P.CREATED, P.AWAITING_SCAN, P.PAYING}, target=P.FAILED),
        # Nothing was charged: a prompt nobody answered, a cancelled or expired order.
        "close": Transition(sources={P.CREATED, P.AWAITING_SCAN, P.PAYING}, target=P.CLOSED),
        "reverse": Transition(sources={P.PAYING}, target=P.REVERSED),
    },
)

refund_machine = StateMachine(
    Refund,
    field="state",
    name="refund",
    actions={
        "accept": Transition(sources={R.CREATED}, target=R.PROCESSING),
        # refundquery CHANGE: bounced off a frozen or void card; people must handle it.
        "bounce": Transition(sources={R.CREATED, R.PROCESSING}, target=R.NEEDS_MANUAL),
        # A bounced refund stays followed: once handled by hand, the provider settles it.
        "succeed": Transition(
            sources={R.CREATED, R.PROCESSING, R.NEEDS_MANUAL}, target=R.SUCCEEDED
        ),
        "fail": Transition(sources={R.CREATED, R.PROCESSING, R.NEEDS_MANUAL}, target=R.FAILED),
    },
)

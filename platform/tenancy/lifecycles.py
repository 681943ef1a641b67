"""The tenancy lifecycles: enterprise (trial programme) and merchant onboarding.

Who may trigger which action is decided by the services (tenancy.services); this module only says
which actions each state allows.
"""

from tenancy.models import Enterprise, EnterpriseState, Merchant, OnboardingState
from tenancy.statemachine import StateMachine, Transition

E = EnterpriseState
O = OnboardingState  # noqa: E741

# States from which an enterprise can still be suspended or offboarded.
LIVE_ENTERPRISE_STATES = {E.INVITED, E.APPLYING, E.UNDER_REVIEW, E.REJECTED, E.TRIAL, E.ACTIVE}


def _back_from_suspension(enterprise: Enterprise) -> str:
    return enterprise.suspended_from or E.ACTIVE


enterprise_machine = StateMachine(
    Enterprise,
    field="state",
    actions={
        # The invited admin accepted the invitation and starts the application.
        "begin": Transition(sources={E.INVITED}, target=E.APPLYING),
        "submit": Transition(sources={E.APPLYING}, target=E.UNDER_REVIEW),
        "approve": Transition(sources={E.UNDER_REVIEW}, target=E.TRIAL),
        "reject": Transition(sources={E.UNDER_REVIEW}, target=E.REJECTED),
        # The enterprise admin takes the rejection reasons back to the application.
        "revise": Transition(sources={E.REJECTED}, target=E.APPLYING),
        "convert": Transition(sources={E.TRIAL}, target=E.ACTIVE),
        "suspend": Transition(sources={E.TRIAL, E.ACTIVE}, target=E.SUSPENDED),
        "reinstate": Transition(sources={E.SUSPENDED}, target=_back_from_suspension),
        "offboard": Transition(sources={*LIVE_ENTERPRISE_STATES, E.SUSPENDED}, target=E.OFFBOARDED),
    },
)

# Onboarding states in which the merchant's application data may be edited by the tenant.
EDITABLE_ONBOARDING_STATES = {O.EDITING, O.REJECTED}
IN_PROGRESS_ONBOARDING_STATES = {O.SUBMITTED, O.AUDITING, O.APPROVED, O.SIGNING}

merchant_machine = StateMachine(
    Merchant,
    field="onboarding_state",
    name="merchant",
    actions={
        "submit": Transition(sources={O.EDITING}, target=O.SUBMITTED),
        # Ops send the application back before it reaches the provider.
        "request_changes": Transition(sources={O.SUBMITTED}, target=O.EDITING),
        # Ops hand the application to the provider's review.
        "start_audit": Transition(sources={O.SUBMITTED}, target=O.AUDITING),
        "reject": Transition(sources={O.SUBMITTED, O.AUDITING}, target=O.REJECTED),
        "revise": Transition(sources={O.REJECTED}, target=O.EDITING),
        "approve": Transition(sources={O.AUDITING}, target=O.APPROVED),
        "start_signing": Transition(sources={O.APPROVED}, target=O.SIGNING),
        "finish": Transition(sources={O.SIGNING}, target=O.FINISHED),
        "cancel": Transition(
            sources={O.EDITING, O.SUBMITTED, O.AUDITING, O.REJECTED, O.APPROVED, O.SIGNING},
            target=O.CANCELED,
        ),
    },
)

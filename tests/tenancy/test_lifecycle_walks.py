"""Random walks through the enterprise and merchant lifecycles, through the services.

Hypothesis picks sequences of (action, actor); after every step the invariants must hold:
no merchant can take payments unless finished, none of a suspended (or otherwise non-operating)
enterprise's merchants can, a sub_mch_id exists exactly when finished, a refused step changes
nothing and writes no audit row, and read-only roles never change anything.
"""

import datetime

from django.core.exceptions import PermissionDenied
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.exceptions import ValidationError

from tenancy import selectors
from tenancy.lifecycles import enterprise_machine, merchant_machine
from tenancy.models import AuditEntry, Enterprise, Merchant, MerchantDocument
from tenancy.principals import Principal
from tenancy.services import enterprises as es
from tenancy.services import merchants as ms
from tenancy.statemachine import IllegalTransition
from tests.tenancy.factories import (
    EnterpriseFactory,
    MembershipFactory,
    MerchantFactory,
    StaffFactory,
    StoreFactory,
    UserFactory,
)

TERMS = {
    "trial_starts_on": datetime.date(2030, 1, 1),
    "trial_ends_on": datetime.date(2099, 1, 1),
    "terminal_quota": 3,
}
REASONS = [{"field": "name", "reason": "Does not match the licence."}]
_sub_mch = iter(range(10**9, 2 * 10**9))

STEPS = {
    "enterprise.submit": lambda a, w: es.enterprise_submit(actor=a, enterprise=w["e"]),
    "enterprise.approve": lambda a, w: es.enterprise_approve(actor=a, enterprise=w["e"], **TERMS),
    "enterprise.reject": lambda a, w: es.enterprise_reject(
        actor=a, enterprise=w["e"], reasons=["x"]
    ),
    "enterprise.revise": lambda a, w: es.enterprise_revise(actor=a, enterprise=w["e"]),
    "enterprise.convert": lambda a, w: es.enterprise_convert(actor=a, enterprise=w["e"]),
    "enterprise.suspend": lambda a, w: es.enterprise_suspend(
        actor=a, enterprise=w["e"], reason="x"
    ),
    "enterprise.reinstate": lambda a, w: es.enterprise_reinstate(actor=a, enterprise=w["e"]),
    "enterprise.offboard": lambda a, w: es.enterprise_offboard(
        actor=a, enterprise=w["e"], reason="x"
    ),
    "merchant.submit": lambda a, w: ms.merchant_submit(actor=a, merchant=w["m"]),
    "merchant.request_changes": lambda a, w: ms.merchant_request_changes(
        actor=a, merchant=w["m"], reasons=REASONS
    ),
    "merchant.start_audit": lambda a, w: ms.merchant_start_audit(actor=a, merchant=w["m"]),
    "merchant.reject": lambda a, w: ms.merchant_reject(actor=a, merchant=w["m"], reasons=REASONS),
    "merchant.revise": lambda a, w: ms.merchant_revise(actor=a, merchant=w["m"]),
    "merchant.approve": lambda a, w: ms.merchant_approve(actor=a, merchant=w["m"]),
    "merchant.start_signing": lambda a, w: ms.merchant_start_signing(actor=a, merchant=w["m"]),
    "merchant.finish": lambda a, w: ms.merchant_finish(
        actor=a, merchant=w["m"], sub_mch_id=str(next(_sub_mch))
    ),
    "merchant.cancel": lambda a, w: ms.merchant_cancel(actor=a, merchant=w["m"]),
}
ACTORS = ["ops_admin", "ops_reviewer", "ops_support", "enterprise_admin", "merchant_manager",
          "auditor", "cashier"]  # fmt: skip
READ_ONLY = {"ops_support", "auditor", "cashier"}


def build():
    enterprise = EnterpriseFactory(state="applying", trial_starts_on=None, trial_ends_on=None)
    merchant = MerchantFactory(enterprise=enterprise, editing=True)
    store = StoreFactory(merchant=merchant)
    MerchantDocument.objects.create(
        enterprise=enterprise, merchant=merchant, kind="business_licence", file="x.png",
        content_type="image/png", size=1, sha256="0" * 64,
    )  # fmt: skip
    actors = {}
    for role in ("ops_admin", "ops_reviewer", "ops_support"):
        actors[role] = Principal.for_user(StaffFactory(role=role).user)
    targets = {"enterprise_admin": {}, "auditor": {}, "merchant_manager": {"merchant": merchant},
               "cashier": {"store": store}}  # fmt: skip
    for role, target in targets.items():
        user = UserFactory()
        MembershipFactory(user=user, role=role, enterprise=enterprise, **target)
        actors[role] = Principal.for_user(user)
    return {"e": enterprise, "m": merchant, "s": store, "actors": actors}


def snapshot(world):
    """Every column of both rows (model instances compare by pk only), and the audit count."""
    enterprise = Enterprise.objects.filter(pk=world["e"].pk).values().get()
    merchant = Merchant.objects.filter(pk=world["m"].pk).values().get()
    return enterprise, merchant, AuditEntry.objects.count()


def check_invariants(world):
    enterprise = Enterprise.objects.get(pk=world["e"].pk)
    merchant = Merchant.objects.select_related("enterprise").get(pk=world["m"].pk)
    can_pay = merchant.can_take_payments
    assert can_pay == selectors.store_can_take_payments(store=world["s"])
    if can_pay:
        assert merchant.onboarding_state == "finished"
        assert enterprise.state in ("trial", "active")
    if enterprise.state in ("suspended", "offboarded", "applying", "under_review", "rejected"):
        assert not can_pay
    assert (merchant.sub_mch_id is not None) == (merchant.onboarding_state == "finished")
    if enterprise.state in ("trial", "active"):
        assert enterprise.trial_ends_on is not None and enterprise.terminal_quota >= 1


# Who would normally take each step: drawing these often lets walks get deep into the lifecycles
# (up to finished merchants and suspended enterprises) instead of bouncing off permissions.
USUAL_ACTOR = {
    "enterprise.submit": "enterprise_admin",
    "enterprise.revise": "enterprise_admin",
    "enterprise.approve": "ops_reviewer",
    "enterprise.reject": "ops_reviewer",
    "merchant.submit": "merchant_manager",
    "merchant.revise": "merchant_manager",
    "merchant.cancel": "merchant_manager",
}


def usual_actor(step: str) -> tuple[str, str]:
    return step, USUAL_ACTOR.get(
        step, "ops_reviewer" if step.startswith("merchant") else "ops_admin"
    )


RANDOM_STEP = st.tuples(st.sampled_from(sorted(STEPS)), st.sampled_from(ACTORS))


def draw_step(data, world) -> tuple[str, str]:
    """Mostly a step the current state allows, by its usual actor (so walks get deep, up to
    finished merchants and suspended enterprises), never a final one; otherwise any step by
    anyone (final steps, illegal steps, wrong actors)."""
    if data.draw(st.integers(0, 3), label="legal step") > 0:
        name, machine, obj = data.draw(
            st.sampled_from([("enterprise", enterprise_machine, world["e"]),
                             ("merchant", merchant_machine, world["m"])])
        )  # fmt: skip
        allowed = [
            f"{name}.{action}"
            for action in machine.allowed_actions(getattr(obj, machine.field))
            if f"{name}.{action}" in STEPS and action not in ("cancel", "offboard")
        ]
        if allowed:
            return usual_actor(data.draw(st.sampled_from(allowed)))
    return data.draw(RANDOM_STEP)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.data())
def test_random_walks_keep_the_invariants(db, data):
    from hypothesis import event

    with transaction.atomic():
        world = build()
        for _ in range(data.draw(st.integers(0, 40), label="length")):
            step, role = draw_step(data, world)
            before = snapshot(world)
            try:
                STEPS[step](world["actors"][role], world)
            except (IllegalTransition, PermissionDenied, ValidationError):
                assert snapshot(world) == before, f"refused {step} by {role} changed something"
            else:
                assert role not in READ_ONLY, f"{role} managed to {step}"
                after = snapshot(world)
                assert after[2] == before[2] + 1, "one audit row per transition"
                assert AuditEntry.objects.order_by("-id").first().action == step
            world["e"].refresh_from_db()
            world["m"].refresh_from_db()
            check_invariants(world)
            event(f"reached merchant {world['m'].onboarding_state}")
            event(f"reached enterprise {world['e'].state}")
        transaction.set_rollback(True)


def test_merchants_taking_payments_matches_the_derived_flag(world):
    from tenancy.models import Enterprise as E

    E.objects.filter(pk=world.b.enterprise.pk).update(state="suspended", suspended_from="trial")
    visible = selectors.merchants_taking_payments(principal=Principal.system("test"))
    assert set(visible) == {m for m in Merchant.objects.all() if m.can_take_payments}
    assert world.a.merchant in visible and world.b.merchant not in visible
    assert selectors.enterprise_terminal_quota(enterprise_id=world.b.enterprise.pk) == 0
    assert selectors.enterprise_terminal_quota(enterprise_id=world.a.enterprise.pk) == 10

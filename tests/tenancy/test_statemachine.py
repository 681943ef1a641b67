import threading

import pytest
from django.db import connection, transaction

from tenancy.lifecycles import enterprise_machine, merchant_machine
from tenancy.models import AuditEntry, Enterprise, Merchant
from tenancy.principals import Principal
from tenancy.statemachine import IllegalTransition, move
from tests.tenancy.factories import EnterpriseFactory, MerchantFactory

SYSTEM = Principal.system("test")

ENTERPRISE_CASES = [
    (state, action) for state in enterprise_machine.states for action in enterprise_machine.actions
]
MERCHANT_CASES = [
    (state, action) for state in merchant_machine.states for action in merchant_machine.actions
]


@pytest.mark.django_db
@pytest.mark.parametrize(("state", "action"), ENTERPRISE_CASES)
def test_every_enterprise_action_from_every_state(state, action):
    enterprise = EnterpriseFactory(state=state, suspended_from="trial")
    transition = enterprise_machine.actions[action]
    if state in transition.sources:
        move(enterprise, action=action, actor=SYSTEM)
        enterprise.refresh_from_db()
        assert enterprise.state == transition.target_for(enterprise)
        entry = AuditEntry.objects.get(action=f"enterprise.{action}")
        assert entry.changes["state"] == [state, enterprise.state]
        assert entry.target_id == str(enterprise.pk)
    else:
        with pytest.raises(IllegalTransition) as info:
            move(enterprise, action=action, actor=SYSTEM)
        assert info.value.status_code == 409
        assert info.value.detail == {
            "state": state,
            "allowed_actions": enterprise_machine.allowed_actions(state),
        }
        assert Enterprise.objects.get(pk=enterprise.pk).state == state
        assert not AuditEntry.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(("state", "action"), MERCHANT_CASES)
def test_every_merchant_action_from_every_state(state, action):
    merchant = MerchantFactory(onboarding_state=state, sub_mch_id="1900000001")
    transition = merchant_machine.actions[action]
    if state in transition.sources:
        move(merchant, action=action, actor=SYSTEM)
        assert Merchant.objects.get(pk=merchant.pk).onboarding_state == transition.target
        assert AuditEntry.objects.filter(action=f"merchant.{action}").count() == 1
    else:
        with pytest.raises(IllegalTransition):
            move(merchant, action=action, actor=SYSTEM)
        assert Merchant.objects.get(pk=merchant.pk).onboarding_state == state


def test_reinstate_returns_to_the_state_before_suspension(db):
    enterprise = EnterpriseFactory(state="suspended", suspended_from="active")
    move(enterprise, action="reinstate", actor=SYSTEM)
    assert enterprise.state == "active"


def test_move_sets_extra_fields_and_audits_them(db):
    enterprise = EnterpriseFactory(state="under_review", terminal_quota=0)
    move(enterprise, action="approve", actor=SYSTEM, fields={"terminal_quota": 5}, reason="ok")
    enterprise.refresh_from_db()
    assert (enterprise.state, enterprise.terminal_quota) == ("trial", 5)
    entry = AuditEntry.objects.get()
    assert entry.changes == {"terminal_quota": [0, 5], "state": ["under_review", "trial"]}
    assert entry.reason == "ok"


def test_a_rolled_back_move_leaves_neither_state_nor_audit(db):
    enterprise = EnterpriseFactory(state="under_review")
    with pytest.raises(ZeroDivisionError), transaction.atomic():
        move(enterprise, action="approve", actor=SYSTEM)
        1 / 0  # noqa: B018
    assert Enterprise.objects.get(pk=enterprise.pk).state == "under_review"
    assert not AuditEntry.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_moves_serialize_and_the_loser_sees_the_new_state():
    """Two requests holding the same stale row: the row lock lets exactly one approve it."""
    enterprise = EnterpriseFactory(state="under_review")
    barrier = threading.Barrier(2)
    outcomes = []

    def attempt(action):
        stale = Enterprise.objects.get(pk=enterprise.pk)
        barrier.wait()
        try:
            with transaction.atomic():
                move(stale, action=action, actor=SYSTEM)
            outcomes.append(action)
        except IllegalTransition as exc:
            outcomes.append(f"409 from {exc.state}")
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt, args=(a,)) for a in ("approve", "reject")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    final = Enterprise.objects.get(pk=enterprise.pk).state
    assert final in ("trial", "rejected")
    assert sorted(outcomes) == sorted(
        ["approve" if final == "trial" else "reject", f"409 from {final}"]
    )
    assert AuditEntry.objects.filter(target_id=str(enterprise.pk)).count() == 1

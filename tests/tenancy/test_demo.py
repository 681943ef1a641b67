from django.contrib.auth import authenticate

from tenancy.demo import load_tenancy_demo
from tenancy.models import AuditEntry, Enterprise, Merchant, Store
from tenancy.principals import Principal


def test_demo_world_is_idempotent_and_every_login_works(db):
    first = load_tenancy_demo()
    counts = [m.objects.count() for m in (Enterprise, Merchant, Store, AuditEntry)]
    second = load_tenancy_demo()
    assert [m.objects.count() for m in (Enterprise, Merchant, Store, AuditEntry)] == counts
    assert first == second
    roles = {login.role for login in first}
    assert roles >= {"ops reviewer", "ops support", "enterprise admin", "merchant manager",
                     "cashier", "auditor"}  # fmt: skip
    for login in first:
        user = authenticate(username=login.username, password=login.password)
        assert user is not None, login.username
        principal = Principal.for_user(user)
        assert principal.is_ops or principal.grants


def test_demo_enterprises_are_one_under_review_and_one_in_trial(db):
    load_tenancy_demo()
    review = Enterprise.objects.get(display_name="Jiangnan Fresh")
    trial = Enterprise.objects.get(display_name="Huadong Convenience")
    assert review.state == "under_review"
    assert (trial.state, trial.terminal_quota) == ("trial", 20)
    states = set(
        Merchant.objects.filter(enterprise=trial).values_list("onboarding_state", flat=True)
    )
    assert states == {"finished", "auditing", "rejected"}
    assert Merchant.objects.filter(enterprise=trial, onboarding_state="finished").count() == 2
    assert {m.can_take_payments for m in Merchant.objects.filter(enterprise=trial)} == {True, False}
    assert set(Store.objects.values_list("city", flat=True)) == {"Shanghai", "Hangzhou"}

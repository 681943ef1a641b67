"""The trial programme: invitation, application, review, trial, expiry."""

import datetime

import pytest
from django.core import mail

from tenancy.models import AuditEntry, Enterprise, Membership
from tenancy.principals import Principal
from tenancy.services.enterprises import enterprise_trial_sweep
from tenancy.tasks import trial_expiry_sweep
from tests.tenancy.factories import EnterpriseFactory, MembershipFactory, UserFactory

PASSWORD = "a long enough passphrase 42"


def token_from(message) -> str:
    return message.body.split("POST /api/v1/invitations/accept/:\n\n")[1].split()[0]


def test_invited_enterprise_applies_and_is_approved_into_a_trial(
    world, api, django_capture_on_commit_callbacks
):
    ops = api(world.ops["ops_admin"])
    with django_capture_on_commit_callbacks(execute=True):
        response = ops.post(
            "/api/v1/enterprises/",
            {
                "legal_name": "Hangzhou Tea Co., Ltd.",
                "display_name": "Tea",
                "admin_email": "boss@tea.cn",
            },
            format="json",
        )
    assert response.status_code == 201
    enterprise = response.json()
    assert enterprise["state"] == "invited"
    assert enterprise["allowed_actions"] == ["begin", "offboard"]
    (message,) = mail.outbox
    assert message.to == ["boss@tea.cn"]

    anonymous = api()
    body = {"token": token_from(message), "username": "teaboss", "password": PASSWORD}
    response = anonymous.post("/api/v1/invitations/accept/", body, format="json")
    assert response.status_code == 201, response.data
    assert response.json()["role"] == "enterprise_admin"
    assert Enterprise.objects.get(pk=enterprise["id"]).state == "applying"

    boss = api(Membership.objects.get(user__username="teaboss").user)
    url = f"/api/v1/enterprises/{enterprise['id']}/"
    response = boss.post(url + "submit/", format="json")
    assert response.status_code == 400
    assert "credit_code" in response.json()["error"]["fields"]
    bad = boss.patch(url, {"credit_code": "9144030071526726XH"}, format="json")
    assert bad.status_code == 400
    assert "check character" in bad.json()["error"]["fields"]["credit_code"][0]
    good = boss.patch(
        url, {"credit_code": "9144030071526726XG", "contact_name": "Zhang"}, format="json"
    )
    assert good.status_code == 200, good.data
    assert boss.post(url + "submit/").json()["state"] == "under_review"
    # Now frozen for the tenant.
    assert boss.patch(url, {"address": "x"}, format="json").status_code == 403

    reviewer = api(world.ops["ops_reviewer"])
    terms = {"trial_starts_on": "2030-01-01", "trial_ends_on": "2029-12-31", "terminal_quota": 3}
    response = reviewer.post(url + "approve/", terms, format="json")
    assert response.status_code == 400
    assert "trial_ends_on" in response.json()["error"]["fields"]
    terms["trial_ends_on"] = "2030-03-31"
    approved = reviewer.post(url + "approve/", terms, format="json").json()
    assert (approved["state"], approved["terminal_quota"]) == ("trial", 3)
    assert approved["trial_ends_on"] == "2030-03-31"
    assert boss.post(url + "approve/", terms, format="json").status_code == 403
    entry = AuditEntry.objects.get(action="enterprise.approve")
    assert entry.actor_user_id == world.ops["ops_reviewer"].pk
    assert entry.changes["terminal_quota"] == [0, 3]


def test_rejected_application_goes_back_to_applying_with_reasons(world, api):
    enterprise = EnterpriseFactory(state="under_review")
    admin = UserFactory()
    MembershipFactory(user=admin, enterprise=enterprise)
    url = f"/api/v1/enterprises/{enterprise.pk}/"
    response = api(world.ops["ops_reviewer"]).post(
        url + "reject/", {"reasons": ["Licence expired"]}, format="json"
    )
    assert response.json()["state"] == "rejected"
    revised = api(admin).post(url + "revise/").json()
    assert revised["state"] == "applying"
    assert revised["review_reasons"] == ["Licence expired"]


def test_trial_sweep_warns_once_then_suspends_at_expiry(db, django_capture_on_commit_callbacks):
    today = datetime.date(2030, 3, 1)
    ending = EnterpriseFactory(trial_ends_on=today + datetime.timedelta(days=5))
    expired = EnterpriseFactory(trial_ends_on=today - datetime.timedelta(days=1))
    converted = EnterpriseFactory(state="active", trial_ends_on=today - datetime.timedelta(days=9))
    later = EnterpriseFactory(trial_ends_on=today + datetime.timedelta(days=60))
    admin = UserFactory(email="admin@ending.cn")
    MembershipFactory(user=admin, enterprise=ending)

    with django_capture_on_commit_callbacks(execute=True):
        result = enterprise_trial_sweep(today=today)
    assert result == {"warned": [ending.pk], "suspended": [expired.pk]}
    (message,) = mail.outbox
    assert message.to == ["admin@ending.cn"]
    assert str(ending.trial_ends_on) in message.subject

    with django_capture_on_commit_callbacks(execute=True):
        assert enterprise_trial_sweep(today=today) == {"warned": [], "suspended": []}
    assert len(mail.outbox) == 1
    states = dict(Enterprise.objects.values_list("pk", "state"))
    assert states[expired.pk] == "suspended"
    assert states[converted.pk] == "active"
    assert states[later.pk] == "trial"
    entry = AuditEntry.objects.get(action="enterprise.suspend")
    assert entry.actor_kind == "system"


def test_reinstating_an_expired_trial_needs_a_new_end_date(world, api):
    enterprise = world.a.enterprise
    Enterprise.objects.filter(pk=enterprise.pk).update(
        state="suspended",
        suspended_from="trial",
        trial_starts_on=datetime.date(2019, 10, 1),
        trial_ends_on=datetime.date(2020, 1, 1),
    )
    url = f"/api/v1/enterprises/{enterprise.pk}/reinstate/"
    ops = api(world.ops["ops_admin"])
    assert ops.post(url, format="json").status_code == 400
    response = ops.post(url, {"trial_ends_on": "2099-06-30"}, format="json")
    assert response.json()["state"] == "trial"
    assert response.json()["trial_ends_on"] == "2099-06-30"


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_trial_sweep_runs_in_a_real_worker(celery_worker):
    """The beat task is registered under its name and does its work in a worker process."""
    from config.celery import app

    expired = EnterpriseFactory(trial_ends_on=datetime.date(2000, 1, 1))
    assert "tenancy.trial_expiry_sweep" in app.conf.beat_schedule
    trial_expiry_sweep.delay()
    from tests.conftest import wait_until

    wait_until(
        lambda: Enterprise.objects.get(pk=expired.pk).state == "suspended",
        timeout=30,
        what="the worker to suspend the expired trial",
    )
    assert Principal.system("x").is_system

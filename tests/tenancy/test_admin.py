"""The ops admin: read-only pages; actions call the services; secrets masked."""

import pytest
from django.test import Client

from tenancy.models import AuditEntry, Enterprise, Merchant


@pytest.fixture
def ops_browser(world):
    def make(role="ops_admin"):
        user = world.ops[role]
        user.is_staff = True
        user.save(update_fields=["is_staff"])
        client = Client()
        client.force_login(user)
        return client

    return make


def test_approve_action_asks_for_trial_terms_then_calls_the_service(world, ops_browser):
    enterprise = world.a.enterprise
    Enterprise.objects.filter(pk=enterprise.pk).update(state="under_review")
    client = ops_browser("ops_reviewer")
    url = "/admin/tenancy/enterprise/"
    base = {"action": "approved", "_selected_action": [enterprise.pk]}
    page = client.post(url, base)
    assert page.status_code == 200
    assert b"terminal_quota" in page.content
    assert Enterprise.objects.get(pk=enterprise.pk).state == "under_review"
    terms = {"trial_starts_on": "2030-01-01", "trial_ends_on": "2030-04-01", "terminal_quota": "4"}
    response = client.post(url, {**base, **terms, "apply": "1"}, follow=True)
    assert response.status_code == 200
    enterprise.refresh_from_db()
    assert (enterprise.state, enterprise.terminal_quota) == ("trial", 4)
    entry = AuditEntry.objects.get(action="enterprise.approve")
    assert entry.actor_user_id == world.ops["ops_reviewer"].pk


def test_refused_actions_are_reported_and_change_nothing(world, ops_browser):
    client = ops_browser("ops_support")
    response = client.post(
        "/admin/tenancy/enterprise/",
        {"action": "converted", "_selected_action": [world.a.enterprise.pk]},
        follow=True,
    )
    assert b"Only ops admins may do this." in response.content
    assert Enterprise.objects.get(pk=world.a.enterprise.pk).state == "trial"
    # An illegal transition is an error message too, not a 500.
    response = ops_browser("ops_admin").post(
        "/admin/tenancy/merchant/",
        {"action": "approved", "_selected_action": [world.a.merchant.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert b"Cannot approve a merchant in state" in response.content
    assert not AuditEntry.objects.filter(action__in=["enterprise.convert", "merchant.approve"])


def test_a_bare_form_save_cannot_change_state(world, ops_browser):
    client = ops_browser("ops_admin")
    url = f"/admin/tenancy/merchant/{world.a.merchant.pk}/change/"
    response = client.post(url, {"name": "Hacked", "onboarding_state": "canceled"})
    assert response.status_code == 403
    merchant = Merchant.objects.get(pk=world.a.merchant.pk)
    assert (merchant.name, merchant.onboarding_state) == ("Merchant A", "finished")


def test_merchant_page_shows_secrets_masked_only(world, ops_browser):
    page = ops_browser("ops_support").get(f"/admin/tenancy/merchant/{world.a.merchant.pk}/change/")
    assert page.status_code == 200
    assert b"6222020200112345678" not in page.content
    assert b"110101199003071234" not in page.content
    assert b"***************5678" in page.content


def test_tenant_users_cannot_open_the_admin(world):
    client = Client()
    world.a.admin.is_staff = True  # even a staff flag does not make a tenant user ops
    world.a.admin.save(update_fields=["is_staff"])
    client.force_login(world.a.admin)
    assert client.get("/admin/tenancy/enterprise/").status_code == 403


def test_adding_an_enterprise_in_the_admin_invites_it(
    world, ops_browser, mailoutbox, django_capture_on_commit_callbacks
):
    form = {
        "legal_name": "Ningbo Bakery Co., Ltd.",
        "display_name": "Ningbo Bakery",
        "contact_name": "Chen",
        "contact_phone": "0574-1234",
        "admin_email": "boss@bakery.cn",
    }
    assert (
        ops_browser("ops_reviewer").post("/admin/tenancy/enterprise/add/", form).status_code == 403
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = ops_browser("ops_admin").post("/admin/tenancy/enterprise/add/", form)
    assert response.status_code == 302
    enterprise = Enterprise.objects.get(display_name="Ningbo Bakery")
    assert enterprise.state == "invited"
    assert AuditEntry.objects.filter(action="enterprise.invite", target_id=str(enterprise.pk))
    (message,) = mailoutbox
    assert message.to == ["boss@bakery.cn"]

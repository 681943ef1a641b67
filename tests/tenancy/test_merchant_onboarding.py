"""The merchant onboarding flow through the API, from a new merchant to a sub_mch_id."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tenancy.models import AuditEntry, Merchant

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100
APPLICATION = {
    "name": "Fresh Noodles",
    "category": "catering",
    "settlement_bank_name": "ICBC",
    "settlement_account_name": "Fresh Noodles Ltd",
    "settlement_account_number": "6222020200187654321",
    "legal_rep_name": "Wang Fang",
    "legal_rep_id_number": "11010119900307123X",
}


def post(client, url, data=None, **kwargs):
    return client.post(url, data or {}, format=kwargs.pop("format", "json"), **kwargs)


def test_full_onboarding_until_the_merchant_can_take_payments(world, api):
    admin, reviewer = api(world.a.admin), api(world.ops["ops_reviewer"])
    response = post(admin, "/api/v1/merchants/", APPLICATION)
    assert response.status_code == 201, response.data
    merchant = response.json()
    assert merchant["onboarding_state"] == "editing"
    assert merchant["settlement_account_number"] == "***************4321"
    assert merchant["legal_rep_id_number"] == "**************123X"
    assert merchant["enterprise"] == world.a.enterprise.pk
    assert merchant["can_take_payments"] is False
    url = f"/api/v1/merchants/{merchant['id']}/"

    # Submitting without the business licence is a 400 naming what is missing.
    response = post(admin, url + "submit/")
    assert response.status_code == 400
    assert "documents" in response.json()["error"]["fields"]

    upload = SimpleUploadedFile("licence.png", PNG, content_type="image/png")
    response = admin.post(
        "/api/v1/documents/",
        {"merchant": merchant["id"], "kind": "business_licence", "file": upload},
        format="multipart",
    )
    assert response.status_code == 201, response.data

    assert post(admin, url + "submit/").json()["onboarding_state"] == "submitted"
    # Frozen while in review.
    response = admin.patch(url, {"name": "Renamed"}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["state"] == "submitted"

    assert post(reviewer, url + "start-audit/").json()["onboarding_state"] == "auditing"
    reasons = {"reasons": [{"field": "legal_rep_id_number", "reason": "Does not match the ID."}]}
    rejected = post(reviewer, url + "reject/", reasons).json()
    assert rejected["onboarding_state"] == "rejected"
    assert rejected["audit_detail"] == [
        {"field": "legal_rep_id_number", "reason": "Does not match the ID."}
    ]
    assert post(admin, url + "revise/").json()["onboarding_state"] == "editing"
    fixed = admin.patch(url, {"legal_rep_id_number": "110101199003071234"}, format="json")
    assert fixed.status_code == 200
    assert post(admin, url + "submit/").json()["business_code"].endswith("A2")
    for action in ("start-audit/", "approve/", "start-signing/"):
        assert post(reviewer, url + action).status_code == 200
    finished = post(reviewer, url + "finish/", {"sub_mch_id": "1900012345"}).json()
    assert finished["onboarding_state"] == "finished"
    assert finished["sub_mch_id"] == "1900012345"
    assert finished["can_take_payments"] is True

    actions = list(
        AuditEntry.objects.filter(target_id=str(merchant["id"]), target_type="tenancy.merchant")
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == [
        "merchant.create", "merchant.submit", "merchant.start_audit", "merchant.reject",
        "merchant.revise", "merchant.update", "merchant.submit", "merchant.start_audit",
        "merchant.approve", "merchant.start_signing", "merchant.finish",
    ]  # fmt: skip
    assert Merchant.objects.get(pk=merchant["id"]).application_no == 2


def test_suspending_the_enterprise_stops_its_merchants_taking_payments(world, api):
    ops = api(world.ops["ops_admin"])
    url = f"/api/v1/merchants/{world.a.merchant.pk}/"
    assert api(world.a.admin).get(url).json()["can_take_payments"] is True
    response = post(ops, f"/api/v1/enterprises/{world.a.enterprise.pk}/suspend/", {"reason": "x"})
    assert response.json()["state"] == "suspended"
    assert api(world.a.admin).get(url).json()["can_take_payments"] is False
    assert post(ops, f"/api/v1/enterprises/{world.a.enterprise.pk}/reinstate/").status_code == 200
    assert api(world.a.admin).get(url).json()["can_take_payments"] is True


def test_illegal_transition_answers_409_with_state_and_allowed_actions(world, api):
    response = post(
        api(world.ops["ops_reviewer"]), f"/api/v1/merchants/{world.a.merchant.pk}/approve/"
    )
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "illegal_transition"
    assert error["state"] == "finished"
    assert error["allowed_actions"] == []
    assert error["request_id"]


@pytest.mark.parametrize(
    "field", ["enterprise_id", "fee_rate_bps", "onboarding_state", "sub_mch_id", "state", "bogus"]
)
def test_ownership_and_state_fields_cannot_be_mass_assigned(world, api, field):
    response = post(api(world.a.admin), "/api/v1/merchants/", {**APPLICATION, field: 1})
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert not Merchant.objects.filter(name=APPLICATION["name"]).exists()


def test_a_merchant_cannot_be_created_in_a_foreign_enterprise(world, api):
    body = {**APPLICATION, "enterprise": world.b.enterprise.pk}
    response = post(api(world.a.admin), "/api/v1/merchants/", body)
    assert response.status_code == 400
    assert "does not exist" in response.json()["error"]["fields"]["enterprise"][0]
    assert not Merchant.objects.filter(name=APPLICATION["name"]).exists()


def test_a_store_cannot_be_attached_to_a_foreign_merchant(world, api):
    body = {"name": "Sneaky", "city": "Shanghai", "merchant": world.b.merchant.pk}
    response = post(api(world.a.manager), "/api/v1/stores/", body)
    assert response.status_code == 400
    assert "does not exist" in response.json()["error"]["fields"]["merchant"][0]


def test_fee_rate_is_set_by_ops_admins_only_and_audited(world, api):
    url = f"/api/v1/merchants/{world.a.merchant.pk}/fee-rate/"
    assert post(api(world.a.admin), url, {"fee_rate_bps": 1}).status_code == 403
    assert post(api(world.ops["ops_admin"]), url, {"fee_rate_bps": 38}).status_code == 200
    assert Merchant.objects.get(pk=world.a.merchant.pk).fee_rate_bps == 38
    entry = AuditEntry.objects.get(action="merchant.set_fee_rate")
    assert entry.changes == {"fee_rate_bps": [60, 38]}


def test_list_filters_search_and_orders(world, api):
    client = api(world.ops["ops_support"])
    names = lambda r: [m["name"] for m in r.json()["results"]]  # noqa: E731
    found = client.get(f"/api/v1/merchants/?search={world.a.merchant.sub_mch_id}")
    assert names(found) == ["Merchant A"]
    assert names(client.get(f"/api/v1/merchants/?enterprise={world.b.enterprise.pk}")) == [
        "Merchant B"
    ]
    assert names(client.get("/api/v1/merchants/?ordering=-name"))[:2] == [
        "Merchant B",
        "Merchant A",
    ]
    page = client.get("/api/v1/stores/?limit=1").json()
    assert page["count"] >= 4 and len(page["results"]) == 1


def test_merchant_list_query_count_does_not_grow_with_rows(
    world, api, django_assert_max_num_queries
):
    from tests.tenancy.factories import MerchantFactory

    MerchantFactory.create_batch(5, enterprise=world.a.enterprise)
    client = api(world.a.admin)
    with django_assert_max_num_queries(8):
        assert client.get("/api/v1/merchants/").status_code == 200


def test_filtering_by_a_foreign_or_missing_id_looks_the_same(world, api):
    client = api(world.a.admin)
    foreign = client.get(f"/api/v1/merchants/?enterprise={world.b.enterprise.pk}")
    missing = client.get("/api/v1/merchants/?enterprise=999999999")
    assert foreign.status_code == missing.status_code == 200
    assert foreign.json()["results"] == missing.json()["results"] == []
    stores = client.get(f"/api/v1/stores/?merchant={world.b.merchant.pk}")
    assert stores.json()["results"] == []


@pytest.mark.parametrize(
    "path",
    ["enterprises", "merchants", "stores", "documents", "memberships", "invitations", "api-keys",
     "audit-log"],
)  # fmt: skip
def test_list_query_counts_are_bounded(world, api, django_assert_max_num_queries, path):
    from tests.tenancy.factories import MembershipFactory, StoreFactory, UserFactory

    StoreFactory.create_batch(4, merchant=world.a.merchant)
    for _ in range(4):
        MembershipFactory(user=UserFactory(), enterprise=world.a.enterprise, role="auditor")
    client = api(world.a.admin)
    client.get("/api/v1/me/")  # warm the session
    with django_assert_max_num_queries(8):
        assert client.get(f"/api/v1/{path}/").status_code == 200

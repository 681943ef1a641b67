"""The terminals API: happy paths and validation (the permission matrix covers who may do what)."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from terminals.models import CommandState, Terminal
from terminals.services import fleet
from tests.terminals.factories import SYSTEM, active, assigned, in_stock

pytestmark = pytest.mark.django_db


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def test_fleet_list_filters_and_searches(world, django_assert_max_num_queries):
    first, _ = active(world.a)
    second, _ = assigned(world.a)
    active(world.b)
    Terminal.objects.filter(pk=first.pk).update(firmware_version="1.3.2", link="otg")
    client = client_for(world.a.admin)
    url = reverse("terminal-list")
    with django_assert_max_num_queries(12):
        body = client.get(url).json()
    assert {row["id"] for row in body["results"]} == {first.pk, second.pk}
    assert client.get(url, {"state": "assigned"}).json()["count"] == 1
    assert (
        client.get(url, {"firmware": "1.3.2", "link": "otg"}).json()["results"][0]["id"] == first.pk
    )
    assert client.get(url, {"search": second.serial[-6:]}).json()["count"] == 1
    assert client.get(url, {"presence": "offline"}).json()["count"] == 2
    row = body["results"][0]
    assert row["presence"]["state"] == "offline" and row["presence"]["heartbeat_interval"] == 30


def test_filtering_by_a_foreign_or_a_missing_id_answers_alike(world):
    """A filter must not tell another tenant's ids from ids that do not exist."""
    active(world.b)
    client = client_for(world.a.admin)
    url = reverse("terminal-list")
    for field, foreign in [
        ("enterprise", world.b.enterprise.pk),
        ("merchant", world.b.merchant.pk),
        ("store", world.b.store.pk),
    ]:
        foreign_answer = client.get(url, {field: foreign})
        missing_answer = client.get(url, {field: 987654321})
        assert foreign_answer.status_code == missing_answer.status_code == 200
        assert foreign_answer.json()["count"] == missing_answer.json()["count"] == 0


def test_fleet_summary_counts_what_the_caller_sees(world):
    active(world.a)
    assigned(world.a)
    active(world.b)
    body = client_for(world.a.admin).get(reverse("terminal-summary")).json()
    assert body["total"] == 2
    assert body["by_state"] == {"active": 1, "assigned": 1}
    assert body["by_presence"] == {"offline": 2}


def test_assign_answers_the_activation_code_once_and_the_device_activates(world):
    (terminal,) = in_stock()
    fleet.terminals_allocate(
        actor=SYSTEM, terminal_ids=[terminal.pk], enterprise_id=world.a.enterprise.pk
    )
    admin = client_for(world.a.admin)
    response = admin.post(
        reverse("terminal-assign", kwargs={"pk": terminal.pk}), {"store": world.a.store.pk}
    )
    assert response.status_code == 200, response.json()
    code = response.json()["activation_code"]
    device = APIClient()
    activation = device.post(
        reverse("terminal-activation"), {"serial": terminal.serial, "code": code}, format="json"
    )
    assert activation.status_code == 201
    assert len(activation.json()["secret"]) >= 40
    again = device.post(
        reverse("terminal-activation"), {"serial": terminal.serial, "code": code}, format="json"
    )
    assert again.status_code == 409 and "secret" not in again.json()


def test_assign_to_another_tenants_store_reads_as_a_missing_store(world):
    (terminal,) = in_stock()
    fleet.terminals_allocate(
        actor=SYSTEM, terminal_ids=[terminal.pk], enterprise_id=world.a.enterprise.pk
    )
    response = client_for(world.a.admin).post(
        reverse("terminal-assign", kwargs={"pk": terminal.pk}), {"store": world.b.store.pk}
    )
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"store": ["Store does not exist."]}


def test_illegal_move_is_a_409(world):
    terminal, _ = assigned(world.a)
    response = client_for(world.a.admin).post(
        reverse("terminal-suspend", kwargs={"pk": terminal.pk})
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "illegal_transition"


def test_send_a_command_and_read_its_history(world):
    terminal, _ = active(world.a)
    client = client_for(world.a.manager)
    url = reverse("terminal-commands", kwargs={"pk": terminal.pk})
    sent = client.post(url, {"kind": "display", "payload": {"text": "请扫码", "amount_fen": 100}})
    assert sent.status_code == 202, sent.json()
    assert sent.json()["state"] == CommandState.QUEUED
    bad = client.post(url, {"kind": "display", "payload": {"amount_fen": -1}})
    assert bad.status_code == 400 and "amount_fen" in bad.json()["error"]["fields"]
    history = client.get(url).json()
    assert [row["id"] for row in history["results"]] == [sent.json()["id"]]


def test_timeline_lists_the_lifecycle(world):
    terminal, _ = active(world.a)
    body = (
        client_for(world.a.auditor)
        .get(reverse("terminal-timeline", kwargs={"pk": terminal.pk}))
        .json()
    )
    kinds = [row["kind"] for row in body["results"]]
    assert kinds[:3] == ["lifecycle.activate", "lifecycle.assign", "lifecycle.allocate"]


def test_bulk_action_reports_each_terminal(world):
    mine, _ = active(world.a)
    not_active, _ = assigned(world.a)
    foreign, _ = active(world.b)
    response = client_for(world.a.admin).post(
        reverse("terminal-bulk"),
        {"action": "suspend", "terminals": [mine.pk, not_active.pk, foreign.pk]},
    )
    results = {row["terminal"]: row for row in response.json()}
    assert results[mine.pk]["ok"] and results[mine.pk]["state"] == "suspended"
    assert results[not_active.pk]["error"]["code"] == "illegal_transition"
    assert results[foreign.pk]["error"]["code"] == "not_found"
    foreign.refresh_from_db()
    assert foreign.state == "active"


def test_allocate_through_the_api_respects_the_quota(world):
    world.a.enterprise.terminal_quota = 1
    world.a.enterprise.save()
    terminals = in_stock(2)
    response = client_for(world.ops["ops_admin"]).post(
        reverse("terminal-allocate"),
        {"terminals": [t.pk for t in terminals], "enterprise": world.a.enterprise.pk},
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "terminal_quota_exceeded"

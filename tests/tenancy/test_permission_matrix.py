"""Every /api/v1/ route × every role × own and foreign tenant (see tests/tenancy/matrix.py)."""

import itertools

import pytest
from django.db import transaction
from django.urls import reverse
from rest_framework.test import APIClient

from tenancy.principals import Principal
from tenancy.scoping import scope
from tenancy.services.api_keys import api_key_create
from tests.tenancy.conftest import forget_throttles
from tests.tenancy.matrix import ROLES, TENANT_ROLES, all_cases, api_routes

CASES = all_cases()
_addresses = itertools.count(1)


def test_every_api_route_has_matrix_cases():
    """A route without an entry fails here: add a Case in tests/<app>/matrix_cases.py."""
    covered = {(case.route, case.method) for case in CASES}
    missing = sorted(api_routes() - covered)
    assert not missing, f"API routes with no permission-matrix case: {missing}"


def test_matrix_cases_name_existing_routes():
    stale = sorted({(c.route, c.method) for c in CASES} - api_routes())
    assert not stale, f"matrix cases for routes that do not exist: {stale}"


def _client(world, role, api_key_header):
    n = next(_addresses)
    client = APIClient(REMOTE_ADDR=f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}")
    if role == "api_key":
        client.credentials(HTTP_AUTHORIZATION=api_key_header)
    elif role != "anonymous":
        client.force_login(world.user(role, "a"))
    return client


def _principal(world, role, api_key):
    if role == "api_key":
        return Principal.for_api_key(api_key)
    return Principal.for_user(world.user(role, "a"))


def _request(client, case, prepared):
    url = reverse(case.route, kwargs=prepared.get("kwargs") or None)
    data = prepared.get("body")
    kwargs = {"format": "multipart"} if case.multipart else {"format": "json"}
    return getattr(client, case.method)(url, data, **kwargs)


def _expected(case, role, foreign: bool) -> int:
    if foreign and role in TENANT_ROLES:
        return case.foreign
    return case.expect[role]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_permission_matrix(world, case):
    key, raw_key = api_key_create(
        actor=Principal.system("matrix"), merchant=world.a.merchant, name="matrix key"
    )
    header = f"Api-Key {raw_key}"
    failures = []
    tenants = [("own", world.a)] + ([("foreign", world.b)] if case.foreign is not None else [])
    for (label, tenant), role in itertools.product(tenants, ROLES):
        forget_throttles()
        expected = _expected(case, role, foreign=label == "foreign")
        with transaction.atomic():
            client = _client(world, role, header)  # before target(): login changes last_login
            prepared = case.target(world, tenant)
            response = _request(client, case, prepared)
            if response.status_code != expected:
                body = getattr(response, "data", None)
                failures.append(f"{role} on {label} tenant: {response.status_code} != {expected}"
                                f" {body!r:.300}")  # fmt: skip
            elif case.model is not None and response.status_code == 200 and role != "anonymous":
                returned = {row["id"] for row in response.json()["results"]}
                visible = set(
                    scope(_principal(world, role, key), case.model).values_list("pk", flat=True)
                )
                if not returned <= visible:
                    failures.append(f"{role}: list leaks rows {sorted(returned - visible)}")
            transaction.set_rollback(True)
    assert not failures, "\n".join(failures)

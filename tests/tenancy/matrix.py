"""The permission matrix: every /api/v1/ route × every role × own and foreign tenant.

How it works
------------
`api_routes()` walks Django's URL resolver and lists every (route name, HTTP method) under
/api/v1/. `tests/tenancy/test_permission_matrix.py` fails if any of them has no `Case`, and runs
every case for every role in ROLES, twice: against tenant A's objects (expect `expect[role]`) and
against tenant B's objects while acting as tenant A (expect `foreign`, 404 by default; ops, the
outsider and anonymous expect the same as for their own tenant). Each request runs inside a
savepoint that is rolled back, so every role starts from the same state. List routes additionally
check that no row outside the principal's scope is returned (give `model=`).

Adding your app's routes
------------------------
Create `tests/<app>/matrix_cases.py` with a module-level `CASES = [...]` list of `Case`s; the
matrix test imports every `tests/*/matrix_cases.py`, so nothing else needs registering:

    from tests.tenancy.matrix import Case, codes

    CASES = [
        Case("terminal-list", "get", codes(200, anonymous=403), model=Terminal, foreign=None),
        Case(
            "terminal-detail", "get",
            codes(404, anonymous=403, ops_admin=200, ops_reviewer=200, ops_support=200,
                  enterprise_admin=200, merchant_manager=200, auditor=200, cashier=200),
            target=lambda world, tenant: {"kwargs": {"pk": make_terminal(tenant).pk}},
        ),
    ]

`target(world, tenant)` prepares the rows the request needs (inside the savepoint) and returns
`{"kwargs": url kwargs, "body": request body}`; `tenant` is `world.a` for the own-tenant run and
`world.b` for the foreign one. `expect` must name every role in ROLES (use `codes()`), so adding a
role to ROLES makes every case state what it expects.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver

ROLES = (
    "anonymous",
    "outsider",
    "ops_admin",
    "ops_reviewer",
    "ops_support",
    "enterprise_admin",
    "merchant_manager",
    "cashier",
    "auditor",
    "api_key",
)
TENANT_ROLES = ("enterprise_admin", "merchant_manager", "cashier", "auditor", "api_key")
API_PREFIX = "api/v1/"


def codes(default: int, **overrides: int) -> dict[str, int]:
    """Expected status per role: `default` for every role not overridden."""
    unknown = set(overrides) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles {sorted(unknown)}")
    return {role: overrides.get(role, default) for role in ROLES}


def nothing(world, tenant) -> dict:
    return {}


@dataclass(frozen=True)
class Case:
    route: str  # the URL pattern's name, e.g. "merchant-detail"
    method: str  # "get", "post", "patch", "put", "delete"
    expect: dict[str, int]  # role -> status, acting on the own tenant's objects
    target: Callable[[Any, Any], dict] = nothing
    # Status for tenant roles acting on the other tenant's objects; None when the route names
    # no tenant object (a list, the login).
    foreign: int | None = 404
    model: type | None = None  # for list routes: returned ids must all be in the caller's scope
    multipart: bool = False
    label: str = ""
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        missing = set(ROLES) - set(self.expect)
        if missing:
            raise ValueError(f"{self.route} {self.method}: no expectation for {sorted(missing)}")

    @property
    def id(self) -> str:
        return f"{self.method.upper()} {self.route}{f' ({self.label})' if self.label else ''}"


def _walk(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), pattern


# HEAD and OPTIONS follow GET's permissions; DRF even adds "head" to a viewset's actions on the
# first GET it serves, so listing it would make the route list depend on test order.
_DERIVED_METHODS = {"options", "head", "trace"}


def _methods(callback) -> set[str]:
    actions = getattr(callback, "actions", None)
    if actions:
        return set(actions) - _DERIVED_METHODS
    view_class = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    if view_class is None:
        return {"get"}
    return {
        method
        for method in view_class.http_method_names
        if method not in _DERIVED_METHODS and hasattr(view_class, method)
    }


def api_routes() -> set[tuple[str, str]]:
    """Every (route name, method) under /api/v1/, from the live URL resolver."""
    routes = set()
    for route, pattern in _walk(get_resolver().url_patterns):
        if not route.lstrip("^").startswith(API_PREFIX):
            continue
        name = pattern.name or route
        for method in _methods(pattern.callback):
            routes.add((name, method))
    return routes


def all_cases() -> list[Case]:
    """The cases of every area: each `tests/<area>/matrix_cases.py` module's CASES."""
    tests_root = Path(__file__).resolve().parents[1]
    cases: list[Case] = []
    for module in sorted(pkgutil.iter_modules([str(tests_root)]), key=lambda m: m.name):
        if not module.ispkg or not (tests_root / module.name / "matrix_cases.py").exists():
            continue
        cases.extend(importlib.import_module(f"tests.{module.name}.matrix_cases").CASES)
    return cases

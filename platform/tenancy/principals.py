"""Who is acting: a user, an API key, a terminal, or the system itself.

A Principal is computed once per request (or task, or websocket connection) from the credential
and the database, and is immutable afterwards. Everything that decides visibility or permission
reads it: tenancy.scoping turns its ids into query filters, services ask it `may_manage_*`.

Visibility is a union of subtrees: `enterprise_ids` (enterprise admins and auditors see the whole
enterprise), `merchant_ids` (merchant managers and API keys see one merchant and everything under
it), `store_ids` (cashiers and terminals see one store). `member_enterprise_ids` are the
enterprises in which the principal holds any grant; only the Enterprise row itself is reached by
it, so a cashier can read the name of its enterprise but nothing else of it. Ops staff and the
system see every tenant (that is their scope, not a bypass); ops_support and ops_reviewer are
read-only except for the review actions services grant them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from tenancy.models import OpsRole, TenantRole

if TYPE_CHECKING:
    from django.http import HttpRequest

    from tenancy.models import ApiKey


class PrincipalKind(StrEnum):
    USER = "user"
    API_KEY = "api_key"
    TERMINAL = "terminal"
    SYSTEM = "system"


@dataclass(frozen=True)
class Grant:
    role: str
    enterprise_id: int
    merchant_id: int | None = None
    store_id: int | None = None


@dataclass(frozen=True)
class Principal:
    kind: PrincipalKind
    label: str
    user_id: int | None = None
    api_key_id: int | None = None
    terminal_id: int | None = None
    ops_role: str | None = None
    reason: str = ""
    grants: tuple[Grant, ...] = ()
    enterprise_ids: frozenset[int] = field(default_factory=frozenset)
    merchant_ids: frozenset[int] = field(default_factory=frozenset)
    store_ids: frozenset[int] = field(default_factory=frozenset)
    member_enterprise_ids: frozenset[int] = field(default_factory=frozenset)
    managed_enterprise_ids: frozenset[int] = field(default_factory=frozenset)
    managed_merchant_ids: frozenset[int] = field(default_factory=frozenset)

    # --- construction -----------------------------------------------------------------------

    @classmethod
    def system(cls, reason: str) -> Principal:
        """The platform acting on its own (a beat task, a migration): sees every tenant."""
        return cls(kind=PrincipalKind.SYSTEM, label=f"system: {reason}", reason=reason)

    @classmethod
    def anonymous(cls, label: str) -> Principal:
        """Nobody signed in (a failed login, for the audit log): sees nothing."""
        return cls(kind=PrincipalKind.USER, label=label)

    @classmethod
    def for_user(cls, user) -> Principal:
        """Build the principal of a signed-in user from the staff profile and memberships."""
        from tenancy.models import Membership, StaffProfile

        ops_role = (
            StaffProfile.objects.filter(user_id=user.pk).values_list("role", flat=True).first()
        )
        if ops_role is None and user.is_superuser:
            ops_role = OpsRole.OPS_ADMIN
        rows = Membership.objects.filter(user_id=user.pk).select_related("store")
        grants = tuple(
            Grant(
                role=row.role,
                enterprise_id=row.enterprise_id,
                merchant_id=row.merchant_id or (row.store.merchant_id if row.store else None),
                store_id=row.store_id,
            )
            for row in rows
        )
        return cls.from_grants(
            kind=PrincipalKind.USER,
            label=user.get_username(),
            grants=grants,
            user_id=user.pk,
            ops_role=ops_role,
        )

    @classmethod
    def for_api_key(cls, api_key: ApiKey) -> Principal:
        """A merchant system: sees one merchant; takes payments for it, manages nothing."""
        return cls(
            kind=PrincipalKind.API_KEY,
            label=f"api key {api_key.prefix}",
            api_key_id=api_key.pk,
            merchant_ids=frozenset({api_key.merchant_id}),
            member_enterprise_ids=frozenset({api_key.enterprise_id}),
        )

    @classmethod
    def for_terminal(
        cls, *, terminal_id: int, enterprise_id: int, store_id: int | None, label: str = ""
    ) -> Principal:
        """A terminal: sees its own store only (nothing at all before it is assigned)."""
        return cls(
            kind=PrincipalKind.TERMINAL,
            label=label or f"terminal {terminal_id}",
            terminal_id=terminal_id,
            store_ids=frozenset({store_id}) if store_id else frozenset(),
            member_enterprise_ids=frozenset({enterprise_id}),
        )

    @classmethod
    def from_grants(cls, *, kind: PrincipalKind, label: str, grants: tuple[Grant, ...], **kw):
        def ids(attr: str, *roles: str) -> frozenset[int]:
            return frozenset(getattr(g, attr) for g in grants if g.role in roles)

        return cls(
            kind=kind,
            label=label,
            grants=grants,
            enterprise_ids=ids("enterprise_id", TenantRole.ENTERPRISE_ADMIN, TenantRole.AUDITOR),
            merchant_ids=ids("merchant_id", TenantRole.MERCHANT_MANAGER),
            store_ids=ids("store_id", TenantRole.CASHIER),
            member_enterprise_ids=frozenset(g.enterprise_id for g in grants),
            managed_enterprise_ids=ids("enterprise_id", TenantRole.ENTERPRISE_ADMIN),
            managed_merchant_ids=ids("merchant_id", TenantRole.MERCHANT_MANAGER),
            **kw,
        )

    # --- questions ------------------------------------------------------------------------------

    @property
    def is_ops(self) -> bool:
        return self.ops_role is not None

    @property
    def is_system(self) -> bool:
        return self.kind == PrincipalKind.SYSTEM

    @property
    def sees_every_tenant(self) -> bool:
        return self.is_ops or self.is_system

    @property
    def is_ops_admin(self) -> bool:
        return self.ops_role == OpsRole.OPS_ADMIN or self.is_system

    @property
    def is_ops_reviewer(self) -> bool:
        """May decide reviews: ops admins and ops reviewers."""
        return self.ops_role in (OpsRole.OPS_ADMIN, OpsRole.OPS_REVIEWER) or self.is_system

    def roles_in(self, enterprise_id: int) -> set[str]:
        return {g.role for g in self.grants if g.enterprise_id == enterprise_id}

    def may_manage_enterprise(self, enterprise_id: int) -> bool:
        """Change an enterprise's own data, people and merchants: its admins and ops admins."""
        return self.is_ops_admin or enterprise_id in self.managed_enterprise_ids

    def may_manage_merchant(self, *, enterprise_id: int, merchant_id: int) -> bool:
        """Change a merchant and its stores, documents, keys: also its merchant managers."""
        return self.may_manage_enterprise(enterprise_id) or merchant_id in self.managed_merchant_ids

    def audit_actor(self) -> dict:
        """The actor columns of an audit row."""
        from tenancy.models import ActorKind

        return {
            "actor_kind": ActorKind(self.kind.value),
            "actor_user_id": self.user_id,
            "actor_api_key_id": self.api_key_id,
            "actor_terminal_id": self.terminal_id,
            "actor_label": self.label[:150],
        }


def principal_from_request(request: HttpRequest) -> Principal | None:
    """Return the request's principal, computed once and cached on the request; None if anonymous.

    DRF's ApiKeyAuthentication sets `request.auth` to the ApiKey; a session user gets a user
    principal. Both DRF and plain Django requests are accepted.
    """
    cached = getattr(request, "_shouyin_principal", None)
    if cached is not None:
        return cached
    from tenancy.models import ApiKey

    auth = getattr(request, "auth", None)
    user = getattr(request, "user", None)
    if isinstance(auth, ApiKey):
        principal = Principal.for_api_key(auth)
    elif user is not None and user.is_authenticated and user.is_active:
        principal = Principal.for_user(user)
    else:
        return None
    # DRF's Request proxies unknown attributes to the Django request; set it on the inner one too.
    inner = getattr(request, "_request", None)
    for target in (request, inner):
        if target is not None:
            target._shouyin_principal = principal
    return principal

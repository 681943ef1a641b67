"""The two-tenant world most tests start from (the `world` fixture in tests/conftest.py).

Two operating enterprises A and B, each with one finished merchant and one store (plus a second
store under the same merchant), and one user per tenant role; the three ops roles; and an
outsider who belongs to nothing. Other apps' tests add their own rows under `world.a` / `world.b`.
"""

from dataclasses import dataclass, field

from tenancy.models import Enterprise, Merchant, Store
from tests.tenancy.factories import (
    PASSWORD,
    EnterpriseFactory,
    MembershipFactory,
    MerchantFactory,
    StaffFactory,
    StoreFactory,
    UserFactory,
)

TENANT_ROLES = ("enterprise_admin", "merchant_manager", "cashier", "auditor")
OPS_ROLES = ("ops_admin", "ops_reviewer", "ops_support")


@dataclass
class Tenant:
    enterprise: Enterprise
    merchant: Merchant
    store: Store
    store2: Store
    users: dict = field(default_factory=dict)  # tenant role -> user

    @property
    def admin(self):
        return self.users["enterprise_admin"]

    @property
    def manager(self):
        return self.users["merchant_manager"]

    @property
    def cashier(self):
        return self.users["cashier"]

    @property
    def auditor(self):
        return self.users["auditor"]


@dataclass
class World:
    a: Tenant
    b: Tenant
    ops: dict  # ops role -> user
    outsider: object
    password: str = PASSWORD

    def user(self, role: str, tenant: str = "a"):
        """The user holding `role` ("ops_admin", "cashier", "outsider"...), in tenant a or b."""
        if role in self.ops:
            return self.ops[role]
        if role == "outsider":
            return self.outsider
        return getattr(self, tenant).users[role]


def build_tenant(tag: str) -> Tenant:
    enterprise = EnterpriseFactory(display_name=f"Enterprise {tag.upper()}")
    merchant = MerchantFactory(enterprise=enterprise, name=f"Merchant {tag.upper()}")
    store = StoreFactory(merchant=merchant, name=f"Store {tag.upper()}1")
    store2 = StoreFactory(merchant=merchant, name=f"Store {tag.upper()}2", city="Hangzhou")
    tenant = Tenant(enterprise, merchant, store, store2)
    targets = {
        "enterprise_admin": {},
        "auditor": {},
        "merchant_manager": {"merchant": merchant},
        "cashier": {"store": store},
    }
    for role, target in targets.items():
        user = UserFactory(username=f"{tag}_{role}")
        MembershipFactory(user=user, role=role, enterprise=enterprise, **target)
        tenant.users[role] = user
    return tenant


def build_world() -> World:
    ops = {role: StaffFactory(user__username=role, role=role).user for role in OPS_ROLES}
    return World(
        a=build_tenant("a"),
        b=build_tenant("b"),
        ops=ops,
        outsider=UserFactory(username="outsider"),
    )

import pytest

from tenancy.models import (
    AuditEntry,
    Enterprise,
    Membership,
    Merchant,
    StaffProfile,
    Store,
)
from tenancy.principals import Principal
from tenancy.scoping import (
    ScopedViewSet,
    ScopeError,
    get_scoped_or_404,
    scope,
)
from tests.tenancy.factories import MerchantFactory


def ids(queryset):
    return set(queryset.values_list("pk", flat=True))


def principal(world, role, tenant="a"):
    return Principal.for_user(world.user(role, tenant))


def test_no_principal_is_an_error_not_everything(world):
    with pytest.raises(ScopeError):
        scope(None, Store)


def test_a_model_without_scope_fields_cannot_be_scoped(world):
    with pytest.raises(ScopeError):
        scope(Principal.system("test"), StaffProfile)


def test_enterprise_admin_and_auditor_see_their_whole_enterprise_only(world):
    for role in ("enterprise_admin", "auditor"):
        p = principal(world, role)
        assert ids(scope(p, Enterprise)) == {world.a.enterprise.pk}
        assert ids(scope(p, Merchant)) == {world.a.merchant.pk}
        assert ids(scope(p, Store)) == {world.a.store.pk, world.a.store2.pk}
        assert world.b.store.pk not in ids(scope(p, Store))


def test_merchant_manager_sees_its_merchant_and_its_stores(world):
    other = MerchantFactory(enterprise=world.a.enterprise)
    p = principal(world, "merchant_manager")
    assert ids(scope(p, Merchant)) == {world.a.merchant.pk}
    assert other.pk not in ids(scope(p, Merchant))
    assert ids(scope(p, Store)) == {world.a.store.pk, world.a.store2.pk}
    # It may read its enterprise row, but not the enterprise-level lists.
    assert ids(scope(p, Enterprise)) == {world.a.enterprise.pk}
    assert ids(scope(p, Membership)) == set()


def test_cashier_sees_only_its_store(world):
    p = principal(world, "cashier")
    assert ids(scope(p, Store)) == {world.a.store.pk}
    assert ids(scope(p, Merchant)) == set()
    assert ids(scope(p, AuditEntry)) == set()


def test_outsider_sees_nothing(world):
    p = principal(world, "outsider")
    for model in (Enterprise, Merchant, Store, Membership, AuditEntry):
        assert ids(scope(p, model)) == set()


@pytest.mark.parametrize("role", ["ops_admin", "ops_reviewer", "ops_support"])
def test_ops_see_every_tenant(world, role):
    p = principal(world, role)
    assert p.is_ops
    assert ids(scope(p, Enterprise)) >= {world.a.enterprise.pk, world.b.enterprise.pk}


def test_api_key_principal_sees_one_merchant(world):
    from tenancy.models import ApiKey

    key = ApiKey(pk=1, enterprise=world.b.enterprise, merchant=world.b.merchant, prefix="abc")
    p = Principal.for_api_key(key)
    assert ids(scope(p, Merchant)) == {world.b.merchant.pk}
    assert ids(scope(p, Store)) == {world.b.store.pk, world.b.store2.pk}


def test_terminal_principal_sees_its_store_only(world):
    p = Principal.for_terminal(
        terminal_id=7, enterprise_id=world.a.enterprise.pk, store_id=world.a.store2.pk
    )
    assert ids(scope(p, Store)) == {world.a.store2.pk}


def test_scope_narrows_an_existing_queryset(world):
    p = principal(world, "enterprise_admin")
    assert ids(scope(p, Store.objects.filter(city="Hangzhou"))) == {world.a.store2.pk}


def test_foreign_and_missing_ids_raise_the_same_404(world):
    from django.http import Http404

    p = principal(world, "enterprise_admin")
    assert get_scoped_or_404(p, Store, pk=world.a.store.pk) == world.a.store
    for pk in (world.b.store.pk, 10**9, "not-a-number"):
        with pytest.raises(Http404):
            get_scoped_or_404(p, Store, pk=pk)


@pytest.mark.parametrize("name", ["get_queryset", "get_object", "get_permissions", "queryset"])
def test_scoped_viewset_refuses_subclasses_that_override_the_scope(name):
    with pytest.raises(TypeError, match=name):
        type("Leaky", (ScopedViewSet,), {name: lambda self: None})


def test_ops_principal_comes_from_staff_profile_or_superuser(world):
    from tests.tenancy.factories import UserFactory

    assert principal(world, "ops_support").ops_role == "ops_support"
    root = UserFactory(username="root", is_superuser=True)
    assert Principal.for_user(root).ops_role == "ops_admin"
    assert not principal(world, "cashier").is_ops


def test_a_narrowing_applies_to_its_level_only():
    """scope_narrowing ANDs to one level's grant; the other levels' grants are untouched."""
    from django.db.models import Q

    from tenancy.scoping import scope_filter

    class Row:
        scope_fields = {"merchant": "merchant_id", "store": "store_id"}
        scope_narrowing = {"store": lambda: Q(fresh=True)}

    both = Principal(kind="user", label="both", merchant_ids=frozenset({1}),
                     store_ids=frozenset({2}))  # fmt: skip
    assert scope_filter(both, Row) == Q(pk__in=[]) | Q(merchant_id__in=[1]) | (
        Q(store_id__in=[2]) & Q(fresh=True)
    )


def test_a_narrowing_of_a_level_the_model_is_not_scoped_by_is_refused():
    from django.db.models import Q

    from tenancy.scoping import scope_filter

    class Row:
        scope_fields = {"merchant": "merchant_id"}
        scope_narrowing = {"store": lambda: Q(fresh=True)}

    with pytest.raises(ScopeError):
        scope_filter(Principal.system("test"), Row)

"""The one scoping layer: what a principal may see, failing closed.

Invariant: a request never reads or changes a row of another tenant. Every API view, non-ops
admin page, websocket consumer and export reaches tenant rows through `scope()`:

- `scope(None, ...)` raises ScopeError. There is no "no principal means everything".
- A model is reachable only if it declares `scope_fields`, a mapping from level to lookup:
  `{"enterprise": "enterprise_id", "merchant": "merchant_id", "store": "store_id"}`. Levels
  missing from the mapping grant nothing: a cashier (store level) sees no row of a model that
  has only an enterprise level. A model without `scope_fields` raises ScopeError.
- Ops and the system see every tenant; that is their scope, not a bypass. The only bypass is
  `dangerously_unscoped()`, and each caller says why in a comment.

Terminals and payments models join by declaring their own `scope_fields`, e.g.
`{"enterprise": "enterprise_id", "merchant": "merchant_id", "store": "store_id"}` on a payment.
Lookups should be local columns (or single-valued joins) so that scoping never duplicates rows.

A model may also narrow what one level grants with `scope_narrowing`, a mapping from level to a
function returning a Q that is ANDed to that level's condition only, e.g. payments'
`{"store": payments_of_today}`: a cashier (store level) sees today's payments of its store, while
a principal who also manages the merchant still sees them all through the merchant level. The
narrowing is part of the scope, so no request parameter can widen it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from django.db.models import Q
from django.http import Http404
from rest_framework import permissions, serializers
from rest_framework.viewsets import GenericViewSet

if TYPE_CHECKING:
    from tenancy.principals import Principal

M = TypeVar("M", bound=models.Model)

# Principal attribute holding the ids for each level.
LEVELS = {
    "enterprise": "enterprise_ids",
    "merchant": "merchant_ids",
    "store": "store_ids",
    "member": "member_enterprise_ids",
}


class ScopeError(RuntimeError):
    """A tenant-owned model was queried without a principal, or a model is not scopable."""


def _queryset(queryset_or_model) -> models.QuerySet:
    if isinstance(queryset_or_model, models.QuerySet):
        return queryset_or_model
    if isinstance(queryset_or_model, type) and issubclass(queryset_or_model, models.Model):
        return queryset_or_model._default_manager.all()
    raise TypeError(f"scope() takes a queryset or a model, not {queryset_or_model!r}")


def scope_filter(principal: Principal, model: type[models.Model]) -> Q:
    """Return the Q object restricting `model` to what `principal` may see."""
    fields = getattr(model, "scope_fields", None)
    if not fields:
        raise ScopeError(f"{model.__name__} declares no scope_fields; it cannot be scoped.")
    unknown = set(fields) - set(LEVELS)
    if unknown:
        raise ScopeError(f"{model.__name__}.scope_fields has unknown levels {sorted(unknown)}")
    condition = Q(pk__in=[])
    if getattr(model, "hidden_from_api_keys", False) and principal.kind == "api_key":
        # A merchant system takes payments; it has no business with e.g. KYC documents.
        return condition
    narrowing = getattr(model, "scope_narrowing", {})
    if set(narrowing) - set(fields):
        raise ScopeError(f"{model.__name__}.scope_narrowing names levels it does not scope by")
    for level, lookup in fields.items():
        ids = getattr(principal, LEVELS[level])
        if ids:
            granted = Q(**{f"{lookup}__in": sorted(ids)})
            if level in narrowing:
                granted &= narrowing[level]()
            condition |= granted
    return condition


def scope(principal: Principal | None, queryset_or_model) -> models.QuerySet:
    """Return only the rows of a queryset (or model) that `principal` may see.

    Raises ScopeError when `principal` is None: callers that serve requests must have one.
    """
    if principal is None:
        raise ScopeError("A tenant-owned model was queried without a principal.")
    queryset = _queryset(queryset_or_model)
    if principal.sees_every_tenant:
        scope_filter(principal, queryset.model)  # still refuse unscopable models
        return queryset
    return queryset.filter(scope_filter(principal, queryset.model))


def get_scoped_or_404(principal: Principal | None, queryset_or_model, **lookup):
    """Return one visible row, or raise Http404 for both "missing" and "not yours"."""
    try:
        return scope(principal, queryset_or_model).get(**lookup)
    except (models.ObjectDoesNotExist, ValueError, TypeError):
        raise Http404 from None


def can_see(principal: Principal | None, obj: models.Model) -> bool:
    """Tell whether `principal` may see an already loaded row (one query)."""
    return scope(principal, type(obj)).filter(pk=obj.pk).exists()


def dangerously_unscoped(queryset_or_model) -> models.QuerySet:
    """Return every row, across tenants. Callers must say in a comment why that is safe."""
    return _queryset(queryset_or_model)


# --- DRF: the base viewset and scoped related fields -------------------------------------------


class HasPrincipal(permissions.BasePermission):
    """Authenticated as a user or an API key; a principal exists for the request."""

    def has_permission(self, request, view) -> bool:
        from tenancy.principals import principal_from_request

        return principal_from_request(request) is not None


class ScopedViewSet(GenericViewSet):
    """The base of every API viewset over tenant rows: scoped by construction, 404 for foreign ids.

    Subclasses set `scoped_model` and may narrow the already scoped queryset in `filter_scoped()`
    (select_related, per-action filters). They cannot override get_queryset, get_object or
    get_permissions: a subclass that did could silently drop the scope, so the class refuses to
    be defined. Extra permission checks go in `extra_permission_classes`. Missing and foreign ids
    raise the same Http404, with the same body.
    """

    scoped_model: type[models.Model] | None = None
    extra_permission_classes: tuple = ()
    _sealed = ("get_queryset", "get_object", "get_permissions", "queryset")

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name in cls._sealed:
            if name in cls.__dict__:
                raise TypeError(
                    f"{cls.__name__} overrides {name}; set scoped_model and override "
                    "filter_scoped() instead"
                )

    @property
    def principal(self) -> Principal:
        from tenancy.principals import principal_from_request

        return principal_from_request(self.request)

    def get_permissions(self):
        return [HasPrincipal(), *(permission() for permission in self.extra_permission_classes)]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # drf-spectacular introspection
            return self.scoped_model._default_manager.none()
        return self.filter_scoped(scope(self.principal, self.scoped_model))

    def filter_scoped(self, queryset: models.QuerySet) -> models.QuerySet:
        return queryset

    def get_object(self):
        queryset = self.filter_queryset(self.get_queryset())
        lookup_url_kwarg = self.lookup_url_kwarg or self.lookup_field
        try:
            obj = queryset.get(**{self.lookup_field: self.kwargs[lookup_url_kwarg]})
        except (models.ObjectDoesNotExist, ValueError, TypeError, DjangoValidationError):
            raise Http404 from None
        self.check_object_permissions(self.request, obj)
        return obj

    def get_serializer_context(self):
        context = super().get_serializer_context()
        if not getattr(self, "swagger_fake_view", False):
            context["principal"] = self.principal
        return context


class ScopedPrimaryKeyRelatedField(serializers.PrimaryKeyRelatedField):
    """A related-object field that accepts only rows the principal may see.

    A foreign id fails exactly like a missing one ("does not exist"): no leak, no write. Without a
    principal in the serializer context the field accepts nothing.
    """

    def __init__(self, model: type[models.Model], **kwargs):
        self.scoped_model = model
        if not kwargs.get("read_only"):
            kwargs["queryset"] = model._default_manager.none()
        super().__init__(**kwargs)

    def get_queryset(self):
        principal = self.context.get("principal")
        if principal is None:
            return self.scoped_model._default_manager.none()
        return scope(principal, self.scoped_model)

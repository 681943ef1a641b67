"""Stores: created under a merchant, by its managers or the enterprise's admins."""

from typing import Any

from django.db import transaction

from tenancy.audit import audit_record, diff
from tenancy.models import Merchant, Store
from tenancy.principals import Principal
from tenancy.services.guards import require, require_merchant_manager, validate_model

STORE_FIELDS = (
    "name",
    "address",
    "city",
    "latitude",
    "longitude",
    "timezone",
    "business_hours",
    "status",
)


def _require_manager(actor: Principal, merchant: Merchant) -> None:
    require_merchant_manager(actor, enterprise_id=merchant.enterprise_id, merchant_id=merchant.pk)


@transaction.atomic
def store_create(*, actor: Principal, merchant: Merchant, data: dict[str, Any]) -> Store:
    _require_manager(actor, merchant)
    require(merchant.onboarding_state != "canceled", "The merchant's application was canceled.")
    store = Store(
        enterprise_id=merchant.enterprise_id,
        merchant=merchant,
        **{k: v for k, v in data.items() if k in STORE_FIELDS},
    )
    validate_model(store)
    store.save()
    audit_record(
        actor=actor,
        action="store.create",
        target=store,
        changes={name: [None, getattr(store, name)] for name in STORE_FIELDS},
    )
    return store


@transaction.atomic
def store_update(*, actor: Principal, store: Store, data: dict[str, Any]) -> Store:
    _require_manager(actor, store.merchant)
    store = Store.objects.select_for_update().get(pk=store.pk)
    values = {k: v for k, v in data.items() if k in STORE_FIELDS}
    changes = diff(store, values)
    if changes:
        for name, value in values.items():
            setattr(store, name, value)
        validate_model(store)
        store.save()
        audit_record(actor=actor, action="store.update", target=store, changes=changes)
    return store

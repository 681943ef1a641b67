"""Merchant onboarding: the sub-merchant application, from editing to a provider sub_mch_id."""

from typing import Any

from django.db import transaction
from rest_framework.exceptions import ValidationError

from tenancy.audit import audit_record, diff
from tenancy.lifecycles import EDITABLE_ONBOARDING_STATES, merchant_machine
from tenancy.models import DocumentKind, Enterprise, Merchant, MerchantDocument
from tenancy.principals import Principal
from tenancy.services.guards import (
    require,
    require_enterprise_manager,
    require_merchant_manager,
    require_ops_admin,
    require_ops_reviewer,
    validate_model,
)
from tenancy.statemachine import lock, move

APPLICATION_FIELDS = (
    "name",
    "category",
    "contact_phone",
    "settlement_bank_name",
    "settlement_account_name",
    "settlement_account_number",
    "legal_rep_name",
    "legal_rep_id_number",
)
REQUIRED_FOR_SUBMISSION = (
    "name",
    "settlement_bank_name",
    "settlement_account_name",
    "settlement_account_number",
    "legal_rep_name",
    "legal_rep_id_number",
)


def _locked(merchant: Merchant) -> Merchant:
    (row,) = lock(Merchant, [merchant.pk])
    return row


def _require_manager(actor: Principal, merchant: Merchant) -> None:
    require_merchant_manager(actor, enterprise_id=merchant.enterprise_id, merchant_id=merchant.pk)


@transaction.atomic
def merchant_create(*, actor: Principal, enterprise: Enterprise, data: dict[str, Any]) -> Merchant:
    """Create a merchant in `editing` under an enterprise the actor administers."""
    require_enterprise_manager(actor, enterprise.pk)
    require(enterprise.state != "offboarded", "The enterprise has been offboarded.")
    merchant = Merchant(
        enterprise=enterprise, **{k: v for k, v in data.items() if k in APPLICATION_FIELDS}
    )
    validate_model(merchant)
    merchant.save()
    audit_record(
        actor=actor,
        action="merchant.create",
        target=merchant,
        changes={name: [None, getattr(merchant, name)] for name in APPLICATION_FIELDS},
    )
    return merchant


@transaction.atomic
def merchant_update(*, actor: Principal, merchant: Merchant, data: dict[str, Any]) -> Merchant:
    """Edit the application. Only while editing or rejected: a submitted one is frozen."""
    _require_manager(actor, merchant)
    merchant = _locked(merchant)
    if merchant.onboarding_state not in EDITABLE_ONBOARDING_STATES:
        raise _not_editable(merchant, "edit")
    values = {k: v for k, v in data.items() if k in APPLICATION_FIELDS}
    changes = diff(merchant, values)
    if changes:
        for name, value in values.items():
            setattr(merchant, name, value)
        validate_model(merchant)
        merchant.save()
        audit_record(actor=actor, action="merchant.update", target=merchant, changes=changes)
    return merchant


def _not_editable(merchant: Merchant, action: str):
    from tenancy.statemachine import IllegalTransition

    state = merchant.onboarding_state
    return IllegalTransition(
        model="merchant",
        action=action,
        state=state,
        allowed=merchant_machine.allowed_actions(state),
    )


@transaction.atomic
def merchant_submit(*, actor: Principal, merchant: Merchant) -> Merchant:
    """Submit the application for review: every required field and a business licence."""
    _require_manager(actor, merchant)
    merchant = _locked(merchant)
    merchant_machine.check(merchant, "submit")
    missing = {
        name: ["This field is required before submitting."]
        for name in REQUIRED_FOR_SUBMISSION
        if not getattr(merchant, name)
    }
    has_licence = MerchantDocument.objects.filter(
        merchant=merchant, kind=DocumentKind.BUSINESS_LICENCE
    ).exists()
    if not has_licence:
        missing["documents"] = ["Upload the business licence before submitting."]
    if missing:
        raise ValidationError(missing)
    return move(
        merchant,
        action="submit",
        actor=actor,
        fields={"application_no": merchant.application_no + 1, "audit_detail": []},
    )


def _reasons(reasons: list[dict[str, str]]) -> list[dict[str, str]]:
    allowed = {*APPLICATION_FIELDS, "documents", "other"}
    clean = []
    for item in reasons:
        field, reason = item.get("field", ""), item.get("reason", "").strip()
        if field not in allowed or not reason:
            raise ValidationError(
                {"reasons": [f"Each reason names a field ({', '.join(sorted(allowed))}) and why."]}
            )
        clean.append({"field": field, "reason": reason})
    if not clean:
        raise ValidationError({"reasons": ["Give at least one reason."]})
    return clean


@transaction.atomic
def merchant_request_changes(*, actor: Principal, merchant: Merchant, reasons: list[dict]):
    """Send a submitted application back to the merchant before it reaches the provider."""
    require_ops_reviewer(actor)
    clean = _reasons(reasons)
    return move(
        merchant,
        action="request_changes",
        actor=actor,
        reason="; ".join(f"{r['field']}: {r['reason']}" for r in clean),
        fields={"audit_detail": clean},
    )


@transaction.atomic
def merchant_start_audit(*, actor: Principal, merchant: Merchant) -> Merchant:
    """Hand the application to the provider's review (the manual channel: ops submit it)."""
    require_ops_reviewer(actor)
    return move(merchant, action="start_audit", actor=actor)


@transaction.atomic
def merchant_reject(*, actor: Principal, merchant: Merchant, reasons: list[dict]) -> Merchant:
    """Reject with field-level reasons; the merchant revises and submits again."""
    require_ops_reviewer(actor)
    clean = _reasons(reasons)
    return move(
        merchant,
        action="reject",
        actor=actor,
        reason="; ".join(f"{r['field']}: {r['reason']}" for r in clean),
        fields={"audit_detail": clean},
    )


@transaction.atomic
def merchant_revise(*, actor: Principal, merchant: Merchant) -> Merchant:
    _require_manager(actor, merchant)
    return move(merchant, action="revise", actor=actor)


@transaction.atomic
def merchant_approve(*, actor: Principal, merchant: Merchant, reason: str = "") -> Merchant:
    require_ops_reviewer(actor)
    return move(merchant, action="approve", actor=actor, reason=reason)


@transaction.atomic
def merchant_start_signing(*, actor: Principal, merchant: Merchant) -> Merchant:
    require_ops_reviewer(actor)
    return move(merchant, action="start_signing", actor=actor)


@transaction.atomic
def merchant_finish(*, actor: Principal, merchant: Merchant, sub_mch_id: str) -> Merchant:
    """Record the provider's sub_mch_id: from now on the merchant can take payments."""
    require_ops_reviewer(actor)
    sub_mch_id = sub_mch_id.strip()
    if not (sub_mch_id.isdigit() and 8 <= len(sub_mch_id) <= 32):
        raise ValidationError({"sub_mch_id": ["A sub_mch_id is 8 to 32 digits."]})
    if Merchant.objects.filter(sub_mch_id=sub_mch_id).exclude(pk=merchant.pk).exists():
        raise ValidationError({"sub_mch_id": ["Another merchant already has this sub_mch_id."]})
    return move(merchant, action="finish", actor=actor, fields={"sub_mch_id": sub_mch_id})


@transaction.atomic
def merchant_cancel(*, actor: Principal, merchant: Merchant, reason: str = "") -> Merchant:
    """Cancel the application (final for this merchant)."""
    _require_manager(actor, merchant)
    return move(merchant, action="cancel", actor=actor, reason=reason)


@transaction.atomic
def merchant_set_fee_rate(*, actor: Principal, merchant: Merchant, fee_rate_bps: int) -> Merchant:
    """Set the fee rate (basis points). Ops admins only: tenants never set their own fees."""
    require_ops_admin(actor)
    if not 0 <= fee_rate_bps <= 10000:
        raise ValidationError({"fee_rate_bps": ["A fee rate is between 0 and 10000 bps."]})
    merchant = _locked(merchant)
    changes = diff(merchant, {"fee_rate_bps": fee_rate_bps})
    if changes:
        merchant.fee_rate_bps = fee_rate_bps
        merchant.save(update_fields=["fee_rate_bps", "updated_at"])
        audit_record(actor=actor, action="merchant.set_fee_rate", target=merchant, changes=changes)
    return merchant

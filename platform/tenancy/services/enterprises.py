"""Enterprise lifecycle: invitation, application, review, trial, conversion, suspension."""

from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from tenancy.audit import audit_record, diff
from tenancy.lifecycles import enterprise_machine
from tenancy.models import Enterprise, EnterpriseState, TenantRole
from tenancy.principals import Principal
from tenancy.services.guards import (
    require,
    require_enterprise_manager,
    require_ops_admin,
    require_ops_reviewer,
    validate_model,
)
from tenancy.statemachine import lock, move

E = EnterpriseState
PROFILE_FIELDS = (
    "legal_name",
    "display_name",
    "credit_code",
    "contact_name",
    "contact_email",
    "contact_phone",
    "address",
)
# States in which the enterprise's own admins may still edit the application.
TENANT_EDITABLE_STATES = {E.INVITED, E.APPLYING, E.REJECTED}


def _locked(enterprise: Enterprise) -> Enterprise:
    (row,) = lock(Enterprise, [enterprise.pk])
    return row


@transaction.atomic
def enterprise_invite(
    *,
    actor: Principal,
    legal_name: str,
    display_name: str,
    admin_email: str,
    contact_name: str = "",
    contact_phone: str = "",
) -> tuple[Enterprise, str]:
    """Create an invited enterprise and invite its first admin; return it and the invite token.

    The invitation email is sent after commit.
    """
    from tenancy.services.people import invitation_create

    require_ops_admin(actor)
    enterprise = Enterprise.objects.create(
        legal_name=legal_name,
        display_name=display_name,
        contact_name=contact_name,
        contact_email=admin_email,
        contact_phone=contact_phone,
    )
    audit_record(
        actor=actor,
        action="enterprise.invite",
        target=enterprise,
        changes={"legal_name": [None, legal_name], "state": [None, enterprise.state]},
    )
    _, token = invitation_create(
        actor=actor, enterprise=enterprise, email=admin_email, role=TenantRole.ENTERPRISE_ADMIN
    )
    return enterprise, token


@transaction.atomic
def enterprise_update(*, actor: Principal, enterprise: Enterprise, data: dict[str, Any]):
    """Edit an enterprise's profile: its admins while applying, ops admins at any time."""
    require_enterprise_manager(actor, enterprise.pk)
    enterprise = _locked(enterprise)
    require(
        actor.is_ops_admin or enterprise.state in TENANT_EDITABLE_STATES,
        "The application can no longer be edited; ask ops to change it.",
    )
    values = {name: data[name] for name in PROFILE_FIELDS if name in data}
    if "credit_code" in values:
        values["credit_code"] = values["credit_code"] or None
    changes = diff(enterprise, values)
    if changes:
        for name, value in values.items():
            setattr(enterprise, name, value)
        validate_model(enterprise)
        enterprise.save()
        audit_record(actor=actor, action="enterprise.update", target=enterprise, changes=changes)
    return enterprise


@transaction.atomic
def enterprise_begin(*, actor: Principal, enterprise: Enterprise) -> Enterprise:
    """Start the application once the first admin has accepted the invitation."""
    return move(enterprise, action="begin", actor=actor, reason="invitation accepted")


@transaction.atomic
def enterprise_submit(*, actor: Principal, enterprise: Enterprise) -> Enterprise:
    """Send the application to ops review. Requires a credit code and a contact."""
    require_enterprise_manager(actor, enterprise.pk)
    enterprise = _locked(enterprise)
    enterprise_machine.check(enterprise, "submit")
    missing = {
        name: ["This field is required before submitting."]
        for name in ("legal_name", "credit_code", "contact_name", "contact_email")
        if not getattr(enterprise, name)
    }
    if missing:
        raise ValidationError(missing)
    return move(enterprise, action="submit", actor=actor, fields={"review_reasons": []})


@transaction.atomic
def enterprise_approve(
    *,
    actor: Principal,
    enterprise: Enterprise,
    trial_starts_on: date,
    trial_ends_on: date,
    terminal_quota: int,
    reason: str = "",
) -> Enterprise:
    """Approve the application and start the trial on the reviewer's terms."""
    require_ops_reviewer(actor)
    if trial_ends_on <= trial_starts_on:
        raise ValidationError({"trial_ends_on": ["The trial must end after it starts."]})
    if terminal_quota < 1:
        raise ValidationError({"terminal_quota": ["A trial needs at least one terminal."]})
    terms = {
        "trial_starts_on": trial_starts_on,
        "trial_ends_on": trial_ends_on,
        "terminal_quota": terminal_quota,
        "trial_warning_sent_on": None,
    }
    return move(enterprise, action="approve", actor=actor, reason=reason, fields=terms)


@transaction.atomic
def enterprise_reject(*, actor: Principal, enterprise: Enterprise, reasons: list[str]):
    require_ops_reviewer(actor)
    if not reasons:
        raise ValidationError({"reasons": ["Give at least one reason."]})
    return move(
        enterprise,
        action="reject",
        actor=actor,
        reason="; ".join(reasons),
        fields={"review_reasons": list(reasons)},
    )


@transaction.atomic
def enterprise_revise(*, actor: Principal, enterprise: Enterprise) -> Enterprise:
    """Take a rejected application back to editing; the reasons stay visible."""
    require_enterprise_manager(actor, enterprise.pk)
    return move(enterprise, action="revise", actor=actor)


@transaction.atomic
def enterprise_convert(*, actor: Principal, enterprise: Enterprise) -> Enterprise:
    """Convert a trial into a regular (active) enterprise."""
    require_ops_admin(actor)
    return move(enterprise, action="convert", actor=actor)


@transaction.atomic
def enterprise_suspend(*, actor: Principal, enterprise: Enterprise, reason: str) -> Enterprise:
    """Suspend a live enterprise: none of its merchants can take payments until reinstated."""
    require_ops_admin(actor)
    enterprise = _locked(enterprise)
    return move(
        enterprise,
        action="suspend",
        actor=actor,
        reason=reason,
        fields={"suspended_from": enterprise.state},
    )


@transaction.atomic
def enterprise_reinstate(
    *, actor: Principal, enterprise: Enterprise, trial_ends_on: date | None = None, reason=""
) -> Enterprise:
    """Return a suspended enterprise to the state it was suspended from.

    A trial that expired meanwhile needs a new end date (or a conversion afterwards).
    """
    require_ops_admin(actor)
    enterprise = _locked(enterprise)
    enterprise_machine.check(enterprise, "reinstate")
    fields: dict[str, Any] = {"suspended_from": ""}
    if enterprise.suspended_from == E.TRIAL:
        ends = trial_ends_on or enterprise.trial_ends_on
        if ends is None or ends < timezone.localdate():
            raise ValidationError({"trial_ends_on": ["The trial has ended; give a new end date."]})
        fields.update(trial_ends_on=ends, trial_warning_sent_on=None)
    return move(enterprise, action="reinstate", actor=actor, reason=reason, fields=fields)


@transaction.atomic
def enterprise_offboard(*, actor: Principal, enterprise: Enterprise, reason: str) -> Enterprise:
    require_ops_admin(actor)
    return move(enterprise, action="offboard", actor=actor, reason=reason)


def enterprise_trial_sweep(*, today: date | None = None) -> dict[str, list[int]]:
    """Warn the admins of trials ending soon and suspend trials that have ended.

    Idempotent: a warning is recorded on the row (sent once per trial end), and suspension is a
    state move that a second run finds already done. Emails go out after commit.
    """
    from tenancy.services.people import notify_enterprise_admins

    today = today or timezone.localdate()
    system = Principal.system("trial expiry")
    warn_before = today + timedelta(days=settings.TRIAL_WARNING_DAYS)
    result: dict[str, list[int]] = {"warned": [], "suspended": []}
    expired = Enterprise.objects.filter(state=E.TRIAL, trial_ends_on__lt=today)
    for pk in expired.values_list("pk", flat=True):
        with transaction.atomic():
            enterprise = _locked(Enterprise(pk=pk))
            if enterprise.state == E.TRIAL and enterprise.trial_ends_on < today:
                move(
                    enterprise,
                    action="suspend",
                    actor=system,
                    reason=f"trial ended on {enterprise.trial_ends_on}",
                    fields={"suspended_from": E.TRIAL},
                )
                result["suspended"].append(pk)
    ending = Enterprise.objects.filter(
        state=E.TRIAL,
        trial_ends_on__gte=today,
        trial_ends_on__lte=warn_before,
        trial_warning_sent_on__isnull=True,
    )
    for pk in ending.values_list("pk", flat=True):
        with transaction.atomic():
            enterprise = _locked(Enterprise(pk=pk))
            if enterprise.state != E.TRIAL or enterprise.trial_warning_sent_on is not None:
                continue
            enterprise.trial_warning_sent_on = today
            enterprise.save(update_fields=["trial_warning_sent_on", "updated_at"])
            audit_record(
                actor=system,
                action="enterprise.trial_warning",
                target=enterprise,
                changes={"trial_warning_sent_on": [None, today]},
            )
            notify_enterprise_admins(
                enterprise=enterprise,
                subject=f"Your Shouyin trial ends on {enterprise.trial_ends_on}",
                body=(
                    f"The trial of {enterprise.display_name} ends on {enterprise.trial_ends_on}. "
                    "Unless it is converted to a regular account before then, the enterprise "
                    "will be suspended and its terminals will stop taking payments."
                ),
            )
            result["warned"].append(pk)
    return result

"""Permission checks shared by the services.

Visibility is already settled by the caller (a row reached through tenancy.scoping); these
checks decide whether a principal who may see a row may also change it. A visible row the
principal may not change answers 403; an invisible one never gets this far (404).
"""

from django.core.exceptions import PermissionDenied

from tenancy.principals import Principal


def require(allowed: bool, message: str = "You may not do this.") -> None:
    if not allowed:
        raise PermissionDenied(message)


def require_ops_admin(actor: Principal) -> None:
    require(actor.is_ops_admin, "Only ops admins may do this.")


def require_ops_reviewer(actor: Principal) -> None:
    require(actor.is_ops_reviewer, "Only ops reviewers may do this.")


def require_enterprise_manager(actor: Principal, enterprise_id: int) -> None:
    require(actor.may_manage_enterprise(enterprise_id), "Only enterprise admins may do this.")


def require_merchant_manager(actor: Principal, *, enterprise_id: int, merchant_id: int) -> None:
    require(
        actor.may_manage_merchant(enterprise_id=enterprise_id, merchant_id=merchant_id),
        "Only the merchant's managers or enterprise admins may do this.",
    )


def validate_model(obj) -> None:
    """Run the model's validators; report failures as a 400 with field errors."""
    from django.core.exceptions import ValidationError as DjangoValidationError
    from rest_framework.exceptions import ValidationError

    try:
        obj.full_clean()
    except DjangoValidationError as exc:
        raise ValidationError(exc.message_dict) from None


def default_enterprise_id(actor: Principal, given=None) -> int:
    """The enterprise a create request is for: the one given, else the only one the actor
    administers; anything else is a 400 asking for it."""
    from rest_framework.exceptions import ValidationError

    if given is not None:
        return given.pk
    if len(actor.managed_enterprise_ids) == 1:
        (enterprise_id,) = actor.managed_enterprise_ids
        return enterprise_id
    raise ValidationError({"enterprise": ["Say which enterprise this is for."]})

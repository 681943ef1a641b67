"""People: invitations, memberships, password resets, and mail to enterprise admins."""

import hashlib
import secrets

from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode
from rest_framework.exceptions import ValidationError

from tenancy.audit import audit_record
from tenancy.models import (
    Enterprise,
    EnterpriseState,
    Invitation,
    Membership,
    Merchant,
    Store,
    TenantRole,
)
from tenancy.principals import Principal
from tenancy.services.guards import require
from tenancy.statemachine import move

R = TenantRole


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _send_after_commit(*, to: list[str], subject: str, body: str) -> None:
    if to:
        transaction.on_commit(lambda: send_mail(subject, body, None, to, fail_silently=False))


def notify_enterprise_admins(*, enterprise: Enterprise, subject: str, body: str) -> None:
    """Email every enterprise admin of `enterprise`, after commit."""
    emails = (
        Membership.objects.filter(enterprise=enterprise, role=R.ENTERPRISE_ADMIN)
        .exclude(user__email="")
        .values_list("user__email", flat=True)
    )
    _send_after_commit(to=sorted(set(emails)), subject=subject, body=body)


def _check_target(
    *, enterprise: Enterprise, role: str, merchant: Merchant | None, store: Store | None
) -> None:
    needs = {
        R.ENTERPRISE_ADMIN: (False, False),
        R.AUDITOR: (False, False),
        R.MERCHANT_MANAGER: (True, False),
        R.CASHIER: (False, True),
    }[role]
    if needs != (merchant is not None, store is not None):
        raise ValidationError(
            {"role": ["Enterprise admins and auditors take no merchant or store; merchant "
                      "managers take a merchant; cashiers take a store."]}
        )  # fmt: skip
    for parent in (merchant, store):
        if parent is not None and parent.enterprise_id != enterprise.pk:
            raise ValidationError({"enterprise": ["The target belongs to another enterprise."]})


def _may_grant(actor: Principal, *, enterprise: Enterprise, role: str, merchant, store) -> bool:
    """Enterprise admins grant any role in their enterprise; merchant managers grant only roles
    they hold or below, under their own merchant; ops admins grant anything."""
    if actor.may_manage_enterprise(enterprise.pk):
        return True
    own_merchant = merchant or getattr(store, "merchant", None)
    return (
        role in (R.MERCHANT_MANAGER, R.CASHIER)
        and own_merchant is not None
        and own_merchant.pk in actor.managed_merchant_ids
    )


@transaction.atomic
def invitation_create(
    *,
    actor: Principal,
    enterprise: Enterprise,
    email: str,
    role: str,
    merchant: Merchant | None = None,
    store: Store | None = None,
) -> tuple[Invitation, str]:
    """Invite someone by email to a role; return the invitation and its one-time token.

    Only the token's hash is stored; the token travels in the email, sent after commit.
    """
    _check_target(enterprise=enterprise, role=role, merchant=merchant, store=store)
    require(
        _may_grant(actor, enterprise=enterprise, role=role, merchant=merchant, store=store),
        "You may not grant this role here.",
    )
    require(enterprise.state != EnterpriseState.OFFBOARDED, "The enterprise has been offboarded.")
    token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        enterprise=enterprise,
        email=email.strip().lower(),
        role=role,
        merchant=merchant,
        store=store,
        token_hash=_token_hash(token),
        invited_by_id=actor.user_id,
    )
    audit_record(
        actor=actor,
        action="invitation.create",
        target=invitation,
        changes={"email": [None, invitation.email], "role": [None, role]},
    )
    _send_after_commit(
        to=[invitation.email],
        subject=f"You are invited to {enterprise.display_name} on Shouyin",
        body=(
            f"You have been invited as {invitation.get_role_display()} of "
            f"{enterprise.display_name}.\n\nAccept before {invitation.expires_at:%Y-%m-%d %H:%M} "
            f"UTC by sending this one-time token to POST /api/v1/invitations/accept/:\n\n{token}\n"
        ),
    )
    return invitation, token


@transaction.atomic
def invitation_revoke(*, actor: Principal, invitation: Invitation) -> Invitation:
    require(
        _may_grant(
            actor,
            enterprise=invitation.enterprise,
            role=invitation.role,
            merchant=invitation.merchant,
            store=invitation.store,
        ),
        "You may not revoke this invitation.",
    )
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if invitation.status != "pending":
        raise ValidationError({"invitation": [f"The invitation is {invitation.status}."]})
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=["revoked_at"])
    audit_record(
        actor=actor,
        action="invitation.revoke",
        target=invitation,
        changes={"revoked_at": [None, invitation.revoked_at]},
    )
    return invitation


def _new_user(*, username: str, password: str, email: str):
    User = get_user_model()
    user = User(username=username, email=email)
    try:
        User.username_validator(username)
        password_validation.validate_password(password, user)
    except DjangoValidationError as exc:
        field = "password" if password else "username"
        raise ValidationError({field: exc.messages}) from None
    user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:
        raise ValidationError({"username": ["This username is taken."]}) from None
    return user


@transaction.atomic
def invitation_accept(
    *, token: str, user=None, username: str = "", password: str = ""
) -> Membership:
    """Redeem a one-time invitation token: grant the role to `user`, or to a new account.

    A token that is unknown, used, revoked or expired is refused with the same 400 and changes
    nothing. Accepting the first admin invitation of an invited enterprise starts its application.
    """
    invitation = (
        Invitation.objects.select_for_update()
        .select_related("enterprise")
        .filter(token_hash=_token_hash(token or ""))
        .first()
    )
    if invitation is None or invitation.status != "pending":
        raise ValidationError({"token": ["This invitation is invalid, used or expired."]})
    if user is None:
        if not username or not password:
            raise ValidationError({"username": ["Choose a username and a password."]})
        user = _new_user(username=username, password=password, email=invitation.email)
    membership, _ = Membership.objects.get_or_create(
        user=user,
        role=invitation.role,
        enterprise=invitation.enterprise,
        merchant=invitation.merchant,
        store=invitation.store,
    )
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    actor = Principal.for_user(user)
    audit_record(
        actor=actor,
        action="invitation.accept",
        target=invitation,
        changes={"accepted_at": [None, invitation.accepted_at]},
        metadata={"membership": membership.pk, "role": membership.role},
    )
    enterprise = invitation.enterprise
    if enterprise.state == EnterpriseState.INVITED and invitation.role == R.ENTERPRISE_ADMIN:
        move(enterprise, action="begin", actor=actor, reason="invitation accepted")
    return membership


@transaction.atomic
def membership_delete(*, actor: Principal, membership: Membership) -> None:
    require(
        _may_grant(
            actor,
            enterprise=membership.enterprise,
            role=membership.role,
            merchant=membership.merchant,
            store=membership.store,
        ),
        "You may not remove this membership.",
    )
    audit_record(
        actor=actor,
        action="membership.delete",
        target=membership,
        changes={"user": [membership.user_id, None], "role": [membership.role, None]},
    )
    membership.delete()


def password_reset_request(*, email: str) -> None:
    """Email a password-reset token to the active accounts with this address (if any).

    Answers the same whether or not the address is known, so it reveals no accounts.
    """
    users = get_user_model()._default_manager.filter(email__iexact=email.strip(), is_active=True)
    for user in users:
        if not user.has_usable_password():
            continue
        uid = urlsafe_base64_encode(force_bytes(user.pk))
        token = default_token_generator.make_token(user)
        send_mail(
            "Reset your Shouyin password",
            "Send this to POST /api/v1/auth/password-reset/confirm/ with your new password:\n\n"
            f"uid: {uid}\ntoken: {token}\n\nIf you did not ask for this, ignore this email.",
            None,
            [user.email],
        )


@transaction.atomic
def password_reset_confirm(*, uid: str, token: str, new_password: str):
    """Set a new password with a reset token; the token is single-use (it hashes the password)."""
    User = get_user_model()
    try:
        user = User._default_manager.get(pk=force_str(urlsafe_base64_decode(uid)))
    except (ValueError, TypeError, OverflowError, User.DoesNotExist):
        user = None
    if user is None or not default_token_generator.check_token(user, token):
        raise ValidationError({"token": ["This reset link is invalid or has expired."]})
    try:
        password_validation.validate_password(new_password, user)
    except DjangoValidationError as exc:
        raise ValidationError({"new_password": exc.messages}) from None
    user.set_password(new_password)
    user.save(update_fields=["password"])
    audit_record(
        actor=Principal.for_user(user),
        action="user.password_reset",
        metadata={"user": user.pk},
    )
    return user

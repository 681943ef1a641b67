"""Fleet services: allocation, assignment, activation, suspension, retirement, credentials.

Each service locks the rows it changes (terminals in pk order, the enterprise first when a quota is
involved), moves them through terminals.statemachine (audit + timeline in the same transaction),
and announces changes after commit.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone

from config.api_errors import ApiError, Conflict
from terminals import credentials, live
from terminals.locks import enterprise_qs_select_for_update, terminal_qs_select_for_update
from terminals.models import ActivationCode, Terminal, TerminalAssignment
from terminals.models import TerminalState as S
from terminals.protocol import CloseCode
from terminals.statemachine import move


class QuotaExceeded(Conflict):
    code = "terminal_quota_exceeded"


class InvalidActivation(ApiError):
    code = "invalid_activation"


def _require(allowed: bool) -> None:
    if not allowed:
        raise PermissionDenied("Your role does not allow this action.")


def _require_ops_admin(actor) -> None:
    _require(actor.is_ops_admin)


def _require_manager(actor, terminal: Terminal) -> None:
    if terminal.enterprise_id is None:
        _require(actor.is_ops_admin)
    else:
        _require(actor.may_manage_enterprise(terminal.enterprise_id))


def _lock(terminal_ids: list[int]) -> list[Terminal]:
    terminals = list(terminal_qs_select_for_update().filter(pk__in=terminal_ids))
    if len(terminals) != len(set(terminal_ids)):
        raise ApiError("Some terminals do not exist.", code="not_found")
    return terminals


def _announce(terminal: Terminal) -> None:
    live.publish_on_commit(
        live.group_names(
            store_id=terminal.store_id,
            merchant_id=terminal.merchant_id,
            enterprise_id=terminal.enterprise_id,
        ),
        {
            "type": "terminal.changed",
            "terminal_id": terminal.pk,
            "serial": terminal.serial,
            "state": terminal.state,
        },
    )


@transaction.atomic
def terminals_allocate(*, actor, terminal_ids: list[int], enterprise_id: int) -> list[Terminal]:
    """Allocate in-stock terminals to an enterprise, all or none, within its trial quota.

    Locks the enterprise row first, so concurrent allocations to one enterprise queue up and the
    count they check is the committed one; then locks the terminals in pk order.
    """
    _require_ops_admin(actor)
    enterprise = enterprise_qs_select_for_update().get(pk=enterprise_id)
    if not enterprise.is_operating:
        raise Conflict(f"Enterprise {enterprise} is {enterprise.state}; it cannot take terminals.")
    held = Terminal.objects.filter(enterprise_id=enterprise_id).exclude(
        state__in=[S.RETIRED, S.LOST]
    )
    terminals = _lock(terminal_ids)
    if held.count() + len(terminals) > enterprise.terminal_quota:
        raise QuotaExceeded(
            f"Enterprise {enterprise} holds {held.count()} of {enterprise.terminal_quota} "
            f"terminals; {len(terminals)} more would exceed its quota.",
            detail={"quota": enterprise.terminal_quota, "held": held.count()},
        )
    for terminal in terminals:
        move(terminal, action="allocate", actor=actor, fields={"enterprise_id": enterprise_id})
        _announce(terminal)
    return terminals


@transaction.atomic
def terminals_deallocate(*, actor, terminal_ids: list[int]) -> list[Terminal]:
    """Return allocated (never assigned) terminals to stock."""
    _require_ops_admin(actor)
    terminals = _lock(terminal_ids)
    for terminal in terminals:
        _announce(terminal)
        move(terminal, action="deallocate", actor=actor, fields={"enterprise_id": None})
    return terminals


@dataclass(frozen=True)
class Assigned:
    terminal: Terminal
    activation_code: str  # shown once to the enterprise, typed into the device
    expires_at: object


def _issue_code(terminal: Terminal) -> tuple[str, object]:
    now = timezone.now()
    ActivationCode.objects.filter(terminal=terminal, used_at=None, revoked_at=None).update(
        revoked_at=now
    )
    expires_at = now + timedelta(seconds=settings.TERMINAL_ACTIVATION_CODE_TTL)
    for _ in range(5):
        code = credentials.new_activation_code()
        try:
            with transaction.atomic():
                ActivationCode.objects.create(
                    terminal=terminal,
                    enterprise_id=terminal.enterprise_id,
                    code_hash=credentials.hash_activation_code(code),
                    expires_at=expires_at,
                )
            return code, expires_at
        except IntegrityError:  # the same code is live elsewhere: draw again
            continue
    raise Conflict("Could not issue an activation code; try again.")


def _open_assignment(terminal: Terminal, store, actor, reason: str) -> None:
    TerminalAssignment.objects.create(
        terminal=terminal,
        enterprise_id=store.enterprise_id,
        merchant_id=store.merchant_id,
        store=store,
        assigned_at=timezone.now(),
        assigned_by=actor.label[:200],
        reason=reason,
    )


def _close_assignment(terminal: Terminal, actor, reason: str) -> None:
    TerminalAssignment.objects.filter(terminal=terminal, unassigned_at=None).update(
        unassigned_at=timezone.now(), unassigned_by=actor.label[:200], reason=reason
    )


@transaction.atomic
def terminal_assign(*, actor, terminal_id: int, store_id: int, reason: str = "") -> Assigned:
    """Assign an allocated terminal to a store of its enterprise and issue its activation code."""
    (terminal,) = _lock([terminal_id])
    _require_manager(actor, terminal)
    store = _store_of(terminal, store_id)
    move(
        terminal,
        action="assign",
        actor=actor,
        reason=reason,
        fields={"store_id": store.pk, "merchant_id": store.merchant_id},
    )
    _open_assignment(terminal, store, actor, reason)
    code, expires_at = _issue_code(terminal)
    _announce(terminal)
    return Assigned(terminal, code, expires_at)


@transaction.atomic
def terminal_reassign(*, actor, terminal_id: int, store_id: int, reason: str = "") -> Terminal:
    """Move an assigned or active terminal to another store of its enterprise, keeping history.

    The device keeps its credentials; its live connection is closed so that it checks in again
    and picks up the new store.
    """
    (terminal,) = _lock([terminal_id])
    _require_manager(actor, terminal)
    store = _store_of(terminal, store_id)
    if store.pk == terminal.store_id:
        raise Conflict("The terminal is already at this store.")
    _announce(terminal)
    _close_assignment(terminal, actor, reason or "reassigned")
    move(
        terminal,
        action="reassign",
        actor=actor,
        reason=reason,
        fields={"store_id": store.pk, "merchant_id": store.merchant_id},
    )
    _open_assignment(terminal, store, actor, reason)
    live.close_on_commit(terminal.pk, code=CloseCode.REPLACED, reason="reassigned")
    _announce(terminal)
    return terminal


_CREDENTIAL_FIELDS = [
    "stored_key",
    "previous_stored_key",
    "previous_key_valid_until",
    "credentials_issued_at",
    "credentials_revoked_at",
    "activated_at",
]


def _store_of(terminal: Terminal, store_id: int):
    """The store, if it belongs to the terminal's enterprise; missing and foreign read alike."""
    from tenancy.models import Store

    store = Store.objects.filter(pk=store_id, enterprise_id=terminal.enterprise_id).first()
    if store is None:
        raise ApiError(
            "The request has invalid fields.",
            code="validation_error",
            detail={"fields": {"store": ["Store does not exist."]}},
        )
    return store


def _revoke(terminal: Terminal) -> None:
    terminal.credentials_revoked_at = timezone.now() if terminal.stored_key else None
    terminal.stored_key = ""
    terminal.previous_stored_key = ""
    terminal.previous_key_valid_until = None
    terminal.save(update_fields=_CREDENTIAL_FIELDS)
    ActivationCode.objects.filter(terminal=terminal, used_at=None, revoked_at=None).update(
        revoked_at=timezone.now()
    )


def _disconnect(terminal: Terminal, code: int, reason: str) -> None:
    live.close_on_commit(terminal.pk, code=code, reason=reason)


@transaction.atomic
def terminal_unassign(*, actor, terminal_id: int, reason: str = "") -> Terminal:
    """Take a terminal back from its store: credentials revoked, connection closed, history kept."""
    (terminal,) = _lock([terminal_id])
    _require_manager(actor, terminal)
    _announce(terminal)
    _close_assignment(terminal, actor, reason or "unassigned")
    _revoke(terminal)
    move(
        terminal,
        action="unassign",
        actor=actor,
        reason=reason,
        fields={"store_id": None, "merchant_id": None},
    )
    _disconnect(terminal, CloseCode.NOT_ASSIGNED, "unassigned")
    return terminal


@transaction.atomic
def terminal_issue_activation_code(*, actor, terminal_id: int) -> Assigned:
    """Issue a fresh activation code (earlier unused codes stop working)."""
    (terminal,) = _lock([terminal_id])
    _require_manager(actor, terminal)
    move(terminal, action="issue_activation_code", actor=actor)
    code, expires_at = _issue_code(terminal)
    return Assigned(terminal, code, expires_at)


@dataclass(frozen=True)
class Activated:
    terminal: Terminal
    secret: str  # returned to the device exactly once; only its StoredKey is kept


_MAX_CODE_ATTEMPTS = 5


def terminal_activate(*, serial: str, code: str) -> Activated:
    """Exchange serial + activation code for the device secret (once).

    Wrong serial and wrong code give the same error; a wrong code counts against the live code,
    which is burnt after a few attempts. Runs its own transactions so a failed attempt is counted.
    """
    code_hash = credentials.hash_activation_code(code)
    with transaction.atomic():
        terminal = terminal_qs_select_for_update().filter(serial=serial.strip().upper()).first()
        if terminal is None:
            raise InvalidActivation("Unknown serial or wrong activation code.")
        issued = ActivationCode.objects.select_for_update().filter(terminal=terminal)
        match = issued.filter(code_hash=code_hash).first()
        if match is None:
            issued.filter(used_at=None, revoked_at=None).update(failed_attempts=_bump_attempts())
            issued.filter(failed_attempts__gte=_MAX_CODE_ATTEMPTS, revoked_at=None).update(
                revoked_at=timezone.now()
            )
            match = None
    if match is None:
        raise InvalidActivation("Unknown serial or wrong activation code.")
    return _activate_with(terminal.pk, match.pk)


def _bump_attempts():
    from django.db.models import F

    return F("failed_attempts") + 1


@transaction.atomic
def _activate_with(terminal_id: int, code_id: int) -> Activated:
    from tenancy.principals import Principal

    (terminal,) = _lock([terminal_id])
    code = ActivationCode.objects.select_for_update().get(pk=code_id)
    now = timezone.now()
    if code.used_at is not None:
        raise Conflict("This activation code was already used.", code="activation_code_used")
    if code.revoked_at is not None:
        raise InvalidActivation(
            "This activation code was withdrawn.", code="activation_code_revoked"
        )
    if code.expires_at <= now:
        raise InvalidActivation("This activation code has expired.", code="activation_code_expired")
    code.used_at = now
    code.save(update_fields=["used_at"])
    secret = credentials.new_device_secret()
    terminal.stored_key = credentials.stored_key_for(secret)
    terminal.previous_stored_key = ""
    terminal.credentials_issued_at = now
    terminal.credentials_revoked_at = None
    terminal.activated_at = terminal.activated_at or now
    terminal.save(update_fields=_CREDENTIAL_FIELDS)
    actor = Principal.for_terminal(
        terminal_id=terminal.pk,
        enterprise_id=terminal.enterprise_id,
        store_id=terminal.store_id,
        label=terminal.serial,
    )
    move(terminal, action="activate", actor=actor, reason="activation code")
    _announce(terminal)
    return Activated(terminal, secret)


@transaction.atomic
def terminal_suspend(*, actor, terminal_id: int, reason: str = "") -> Terminal:
    (terminal,) = _lock([terminal_id])
    _require_manager(actor, terminal)
    move(terminal, action="suspend", actor=actor, reason=reason)
    _disconnect(terminal, CloseCode.SUSPENDED, "suspended")
    _announce(terminal)
    return terminal


@transaction.atomic
def terminal_resume(*, actor, terminal_id: int, reason: str = "") -> Terminal:
    (terminal,) = _lock([terminal_id])
    _require_manager(actor, terminal)
    move(terminal, action="resume", actor=actor, reason=reason)
    _announce(terminal)
    return terminal


@transaction.atomic
def terminal_retire(*, actor, terminal_id: int, lost: bool = False, reason: str = "") -> Terminal:
    """Retire a terminal (or report it lost): credentials revoked and its connection closed now."""
    (terminal,) = _lock([terminal_id])
    _require(
        actor.is_ops_admin
        or (
            lost
            and terminal.enterprise_id is not None
            and actor.may_manage_enterprise(terminal.enterprise_id)
        )
    )
    _close_assignment(terminal, actor, reason or ("lost" if lost else "retired"))
    _revoke(terminal)
    move(terminal, action="mark_lost" if lost else "retire", actor=actor, reason=reason)
    _disconnect(terminal, CloseCode.RETIRED, "lost" if lost else "retired")
    _announce(terminal)
    return terminal


@transaction.atomic
def terminal_revoke_credentials(*, actor, terminal_id: int, reason: str = "") -> Terminal:
    """Revoke the device secret: the device is refused until it activates with a new code."""
    (terminal,) = _lock([terminal_id])
    _require_manager(actor, terminal)
    _revoke(terminal)
    move(terminal, action="revoke_credentials", actor=actor, reason=reason)
    _disconnect(terminal, CloseCode.NO_CREDENTIALS, "credentials revoked")
    return terminal


@transaction.atomic
def terminal_apply_rotated_key(*, terminal_id: int, stored_key: str) -> bool:
    """Adopt the StoredKey a device reported after `rotate_secret`; keep the old one a while."""
    (terminal,) = _lock([terminal_id])
    if terminal.state not in (S.ACTIVE, S.SUSPENDED) or not terminal.stored_key:
        return False
    if terminal.stored_key == stored_key:
        return True
    terminal.previous_stored_key = terminal.stored_key
    terminal.previous_key_valid_until = timezone.now() + timedelta(
        seconds=settings.TERMINAL_SECRET_OVERLAP_SECONDS
    )
    terminal.stored_key = stored_key
    terminal.credentials_issued_at = timezone.now()
    terminal.save(update_fields=_CREDENTIAL_FIELDS)
    return True


def terminal_rotate_secret(*, actor, terminal_id: int):
    """Ask the device for a new secret (a `rotate_secret` command); enterprise admins and ops."""
    from terminals.services.commands import command_send

    terminal = Terminal.objects.get(pk=terminal_id)
    _require_manager(actor, terminal)
    return command_send(terminal_id=terminal_id, kind="rotate_secret", actor=actor)

"""Commands to devices: the one way any app sends something to a terminal.

Delivery is at least once: a command row is queued, pushed to the device's node after commit if
the device is connected, re-sent on every (re)connect until the device acks it, and expires at
`expires_at`. Devices ignore ids they have already executed and ack them again.
"""

import uuid
from datetime import timedelta

import pydantic
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from config.api_errors import ApiError, Conflict
from terminals import live
from terminals.models import CommandState, Terminal, TerminalCommand
from terminals.models import TerminalState as S
from terminals.protocol import COMMAND_PAYLOADS, Command, dump, validate_command_payload

# How long an unacked command stays deliverable, by kind (seconds). A customer-screen prompt is
# worthless a few minutes later; configuration still matters tomorrow.
DEFAULT_TTL = {
    "display": 300,
    "clear": 300,
    "ping": 300,
    "payment_result": 300,
    "reboot": 3600,
    "config": 7 * 86400,
    "rotate_secret": 86400,
    "firmware_offer": 7 * 86400,
}
_DELIVERABLE = (S.ACTIVE, S.SUSPENDED)


def command_frame(command: TerminalCommand) -> str:
    return dump(
        Command(
            type=command.kind,
            id=str(command.id),
            issued_at=command.created_at,
            expires_at=command.expires_at,
            payload=command.payload,
        )
    )


def _may_command(actor, terminal: Terminal) -> bool:
    if actor.is_system or actor.is_ops_admin:
        return True
    if terminal.enterprise_id is None or terminal.merchant_id is None:
        return False
    return actor.may_manage_merchant(
        enterprise_id=terminal.enterprise_id, merchant_id=terminal.merchant_id
    )


@transaction.atomic
def command_send(
    *,
    terminal_id: int,
    kind: str,
    payload: dict | None = None,
    actor,
    ttl_seconds: int | None = None,
) -> TerminalCommand:
    """Queue a command for a terminal and push it to the device after commit.

    `kind` is one of terminals.protocol.COMMAND_KINDS; `payload` is validated against its model.
    Raises PermissionDenied if `actor` may not manage the terminal, ApiError on a bad payload,
    Conflict if the terminal is not active or suspended. Returns the command row (state queued).
    """
    if kind not in COMMAND_PAYLOADS:
        raise ApiError(f"Unknown command {kind!r}.", code="unknown_command")
    try:
        clean = validate_command_payload(kind, payload or {})
    except pydantic.ValidationError as exc:
        fields = {".".join(map(str, e["loc"])) or "payload": [e["msg"]] for e in exc.errors()}
        raise ApiError(
            "The command payload is invalid.", code="validation_error", detail={"fields": fields}
        ) from None
    terminal = Terminal.objects.get(pk=terminal_id)
    command = command_new(
        terminal=terminal, kind=kind, payload=clean, actor=actor, ttl_seconds=ttl_seconds
    )
    command.save(force_insert=True)
    live.deliver_on_commit(terminal.pk, command_frame(command), str(command.id))
    return command


def command_new(
    *, terminal: Terminal, kind: str, payload: dict, actor, ttl_seconds: int | None = None
) -> TerminalCommand:
    """The command row for a validated `payload`, not yet saved; raises like `command_send`.

    For the one path that writes it in a statement of its own (payments.services.till_micropay);
    everything else sends commands with `command_send`.
    """
    if not _may_command(actor, terminal):
        raise PermissionDenied("Your role does not allow commands to this terminal.")
    if terminal.state not in _DELIVERABLE:
        raise Conflict(f"Terminal {terminal.serial} is {terminal.state}; it takes no commands.")
    now = timezone.now()
    return TerminalCommand(
        terminal=terminal,
        enterprise_id=terminal.enterprise_id,
        kind=kind,
        payload=payload,
        requested_by=getattr(actor, "label", str(actor))[:200],
        created_at=now,
        expires_at=now + timedelta(seconds=ttl_seconds or DEFAULT_TTL[kind]),
    )


def commands_pending(*, terminal_id: int) -> list[tuple[str, str]]:
    """Return (id, frame) of every command still owed to a terminal, oldest first."""
    now = timezone.now()
    rows = TerminalCommand.objects.filter(
        terminal_id=terminal_id,
        state__in=[CommandState.QUEUED, CommandState.SENT],
        expires_at__gt=now,
    ).order_by("created_at")[: settings.TERMINAL_MAX_RESEND]
    return [(str(row.id), command_frame(row)) for row in rows]


def commands_mark_sent(*, terminal_id: int, command_ids: list[str]) -> None:
    """Record a delivery attempt (one UPDATE for the whole batch)."""
    TerminalCommand.objects.filter(
        terminal_id=terminal_id,
        pk__in=command_ids,
        state__in=[CommandState.QUEUED, CommandState.SENT],
    ).update(state=CommandState.SENT, sent_at=timezone.now(), attempts=F("attempts") + 1)


def command_ack(
    *, terminal_id: int, command_id: str, ok: bool, error: str = "", result: dict | None = None
) -> TerminalCommand | None:
    """Apply a device's ack once: later duplicates change nothing. Returns the row, or None."""
    try:
        uuid.UUID(command_id)
    except ValueError:
        return None
    # The StoredKey a device reports after rotate_secret is a login verifier: apply it, never
    # keep it in the command row, which the command history API shows.
    result = dict(result or {})
    stored_key = result.pop("stored_key", None)
    if stored_key is not None:
        result["stored_key_reported"] = True
    updated = TerminalCommand.objects.filter(
        Q(state__in=[CommandState.QUEUED, CommandState.SENT]),
        terminal_id=terminal_id,
        pk=command_id,
    ).update(
        state=CommandState.ACKED if ok else CommandState.FAILED,
        acked_at=timezone.now(),
        error=error[:500],
        result=result,
    )
    command = TerminalCommand.objects.filter(terminal_id=terminal_id, pk=command_id).first()
    if updated and command is not None:
        _after_ack(command, stored_key)
    return command


def _after_ack(command: TerminalCommand, stored_key: object = None) -> None:
    if command.kind == "rotate_secret" and command.state == CommandState.ACKED:
        from terminals.services.fleet import terminal_apply_rotated_key

        if isinstance(stored_key, str) and len(stored_key) == 64:
            terminal_apply_rotated_key(terminal_id=command.terminal_id, stored_key=stored_key)
    live.publish(
        live.group_names(enterprise_id=command.enterprise_id),
        {
            "type": "terminal.command",
            "terminal_id": command.terminal_id,
            "command_id": str(command.id),
            "state": command.state,
        },
    )


def commands_expire() -> int:
    """Mark every overdue queued or sent command expired; return how many (idempotent)."""
    return TerminalCommand.objects.filter(
        state__in=[CommandState.QUEUED, CommandState.SENT], expires_at__lte=timezone.now()
    ).update(state=CommandState.EXPIRED)

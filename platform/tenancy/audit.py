"""The audit log: one append-only row per change, written in the changing transaction.

Secrets never reach the log: a field whose name looks like a credential is replaced by
"[redacted]", and an encrypted model field by its masked form. Call `audit_record()` inside the
service's atomic block so the row commits or rolls back with the change it describes (an
on_commit hook would be lost if the process died after COMMIT).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from django.db import models

from config.encryption import EncryptedTextField, mask
from config.request_id import get_request_id
from tenancy.models import AuditEntry, Enterprise

if TYPE_CHECKING:
    from tenancy.principals import Principal

REDACTED = "[redacted]"
_SECRET_NAME = re.compile(
    r"(password|secret|token|api_key|key_hash|auth_code|sign_url|private|credential)", re.I
)


def _encrypted_fields(target: models.Model | None) -> set[str]:
    if target is None:
        return set()
    return {f.name for f in target._meta.concrete_fields if isinstance(f, EncryptedTextField)}


def _plain(value: Any) -> Any:
    """Make a value JSON-friendly (dates, decimals, model instances become strings or ids)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    return str(value)


def redact(changes: dict[str, Any], *, encrypted: set[str] = frozenset()) -> dict[str, Any]:
    """Return `changes` with credential-like fields redacted and encrypted fields masked."""
    clean: dict[str, Any] = {}
    for name, value in changes.items():
        if _SECRET_NAME.search(name):
            clean[name] = REDACTED
        elif name in encrypted:
            pair = value if isinstance(value, list | tuple) else [value]
            clean[name] = [mask(str(item)) if item else item for item in pair]
        elif isinstance(value, dict):
            clean[name] = redact(value)
        else:
            clean[name] = _plain(value)
    return clean


def _enterprise_id_of(target: models.Model | None) -> int | None:
    if isinstance(target, Enterprise):
        return target.pk
    return getattr(target, "enterprise_id", None)


def audit_record(**kwargs: Any) -> AuditEntry:
    """Append one audit row (see `audit_entry` for the arguments)."""
    entry = audit_entry(**kwargs)
    entry.save(force_insert=True)
    return entry


def audit_entry(
    *,
    actor: Principal,
    action: str,
    target: models.Model | None = None,
    changes: dict[str, Any] | None = None,
    reason: str = "",
    enterprise_id: int | None = None,
    metadata: dict[str, Any] | None = None,
) -> AuditEntry:
    """One audit row, not yet saved: who (`actor`), did what (`action`, e.g. "merchant.approve"),
    to what. For the few paths that write it in a statement of their own (config.loop_db).

    `changes` maps field names to `[before, after]`; secrets are redacted. The enterprise is taken
    from the target unless given. Uses the current request id (or "-" outside a request).
    """
    encrypted = _encrypted_fields(target)
    return AuditEntry(
        **actor.audit_actor(),
        enterprise_id=enterprise_id if enterprise_id is not None else _enterprise_id_of(target),
        action=action,
        target_type=target._meta.label_lower if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        changes=redact(changes or {}, encrypted=encrypted),
        reason=reason,
        request_id=get_request_id(),
        metadata=redact(metadata or {}),
    )


def diff(obj: models.Model, values: dict[str, Any]) -> dict[str, list[Any]]:
    """Return `{field: [before, after]}` for the values that differ from `obj`'s."""
    return {
        name: [getattr(obj, name), value]
        for name, value in values.items()
        if getattr(obj, name) != value
    }

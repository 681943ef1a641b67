"""A small state-machine helper that every app's lifecycles use.

Declare the states and the named actions of a model once, next to the model's services:

    payment_machine = StateMachine(
        Payment,
        field="state",
        actions={
            "submit": Transition(sources={"created"}, target="submitted"),
            "succeed": Transition(sources={"submitted", "user_paying"}, target="succeeded"),
        },
    )

then change state only with `move(obj, action="submit", actor=principal, reason="...")`. It runs in
a transaction, re-reads the row under `SELECT ... FOR UPDATE` (so two concurrent moves serialize
and the second sees the first's result), refuses an action the current state does not allow with
IllegalTransition (a 409 carrying the current state and the allowed actions), saves the new state
plus any `fields` given, and writes the audit row in the same transaction. The object passed in is
updated in place. The state field should be `editable=False` so no form can set it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import models, transaction

from config.api_errors import Conflict
from tenancy.audit import audit_entry

if TYPE_CHECKING:
    from tenancy.models import AuditEntry
    from tenancy.principals import Principal


class IllegalTransition(Conflict):
    """The action is not allowed in the row's current state (HTTP 409)."""

    code = "illegal_transition"

    def __init__(self, *, model: str, action: str, state: str, allowed: list[str]):
        super().__init__(
            f"Cannot {action} a {model} in state {state!r}.",
            detail={"state": state, "allowed_actions": allowed},
        )
        self.state = state
        self.action = action
        self.allowed_actions = allowed


@dataclass(frozen=True)
class Transition:
    sources: frozenset[str] | set[str]
    # The target state, or a function of the locked row returning it (e.g. "back where it was").
    target: str | Callable[[Any], str]

    def target_for(self, obj: models.Model) -> str:
        return self.target(obj) if callable(self.target) else self.target


_machines: dict[type[models.Model], StateMachine] = {}


class StateMachine:
    def __init__(
        self,
        model: type[models.Model],
        *,
        field: str = "state",
        actions: dict[str, Transition],
        name: str | None = None,
    ):
        self.model = model
        self.field = field
        self.name = name or model._meta.model_name
        self.actions = {
            action: Transition(frozenset(t.sources), t.target) for action, t in actions.items()
        }
        choices = {value for value, _ in model._meta.get_field(field).choices or ()}
        for action, transition in self.actions.items():
            unknown = set(transition.sources) - choices
            if choices and unknown:
                raise ValueError(f"{self.name}.{action}: unknown source states {sorted(unknown)}")
            if choices and not callable(transition.target) and transition.target not in choices:
                raise ValueError(f"{self.name}.{action}: unknown target {transition.target!r}")
        _machines[model] = self

    @property
    def states(self) -> list[str]:
        return [value for value, _ in self.model._meta.get_field(self.field).choices]

    def allowed_actions(self, state: str) -> list[str]:
        return [name for name, t in self.actions.items() if state in t.sources]

    def can(self, obj: models.Model, action: str) -> bool:
        transition = self.actions.get(action)
        return transition is not None and getattr(obj, self.field) in transition.sources

    def check(self, obj: models.Model, action: str) -> Transition:
        """Return the transition for `action`, or raise IllegalTransition."""
        state = getattr(obj, self.field)
        transition = self.actions.get(action)
        if transition is None or state not in transition.sources:
            raise IllegalTransition(
                model=self.name, action=action, state=state, allowed=self.allowed_actions(state)
            )
        return transition


def machine_for(obj_or_model) -> StateMachine:
    model = obj_or_model if isinstance(obj_or_model, type) else type(obj_or_model)
    try:
        return _machines[model]
    except KeyError:
        raise LookupError(f"No state machine is declared for {model.__name__}") from None


def lock(model: type[models.Model], pks: Iterable[Any]) -> list[models.Model]:
    """Lock rows by primary key, always in pk order so that every code path locks alike."""
    return list(model._base_manager.select_for_update().filter(pk__in=list(pks)).order_by("pk"))


def move(
    obj: models.Model,
    *,
    action: str,
    actor: Principal,
    reason: str = "",
    fields: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
) -> models.Model:
    """Apply `action` to `obj` under a row lock, save, audit; return `obj` updated in place.

    `fields` are extra columns set in the same save (e.g. trial terms on approval); they are part
    of the audit row's changes. Raises IllegalTransition (409) if the locked row's state does not
    allow `action`; nothing is written then.
    """
    with transaction.atomic():
        (locked,) = lock(type(obj), [obj.pk]) or (None,)
        if locked is None:
            raise type(obj).DoesNotExist(f"{machine_for(obj).name} {obj.pk} no longer exists")
        entry = apply_in_memory(
            locked, action=action, actor=actor, reason=reason, fields=fields, metadata=metadata
        )
        update_fields = [*(fields or {}), machine_for(obj).field]
        if any(f.name == "updated_at" for f in locked._meta.concrete_fields):
            update_fields.append("updated_at")
        locked.save(update_fields=update_fields)
        entry.save(force_insert=True)
    for name in update_fields:
        setattr(obj, name, getattr(locked, name))
    return obj


def apply_in_memory(
    obj: models.Model,
    *,
    action: str,
    actor: Principal,
    reason: str = "",
    fields: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
) -> AuditEntry:
    """The in-memory half of `move()`: check `action` against `obj`'s state, set the new state and
    `fields` on `obj`, and return the audit row, unsaved.

    For a caller that writes the row itself in one statement guarded by the state it read
    (`WHERE state = <source>`), so that a concurrent move makes the statement change nothing
    (payments.services.till_micropay). Raises IllegalTransition like `move()`.
    """
    machine = machine_for(obj)
    fields = dict(fields or {})
    transition = machine.check(obj, action)
    before = getattr(obj, machine.field)
    fields[machine.field] = transition.target_for(obj)
    changes = {
        name: [getattr(obj, name), value]
        for name, value in fields.items()
        if getattr(obj, name) != value or name == machine.field
    }
    for name, value in fields.items():
        setattr(obj, name, value)
    return audit_entry(
        actor=actor,
        action=f"{machine.name}.{action}",
        target=obj,
        changes=changes,
        reason=reason,
        metadata={"from": before, "to": fields[machine.field], **(metadata or {})},
    )

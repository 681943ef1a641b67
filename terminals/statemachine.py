"""The terminal lifecycle: named states and actions, moved by tenancy's state-machine helper.

    in_stock → allocated → assigned → active ↔ suspended;   any → retired | lost

`move()` wraps tenancy.statemachine.move (row lock, IllegalTransition as a 409, audit row in the
same transaction) and adds the terminal's timeline event in that transaction too.
"""

from django.utils import timezone

from tenancy.statemachine import IllegalTransition, StateMachine, Transition
from tenancy.statemachine import move as tenancy_move
from terminals.models import Terminal, TerminalEvent
from terminals.models import TerminalState as S

__all__ = ["IllegalTransition", "move", "terminal_machine"]

_LIVE = {S.IN_STOCK, S.ALLOCATED, S.ASSIGNED, S.ACTIVE, S.SUSPENDED}
_HELD = {S.ASSIGNED, S.ACTIVE, S.SUSPENDED}


def _unchanged(terminal: Terminal) -> str:
    return terminal.state


terminal_machine = StateMachine(
    Terminal,
    field="state",
    name="terminal",
    actions={
        "allocate": Transition(sources={S.IN_STOCK}, target=S.ALLOCATED),
        "deallocate": Transition(sources={S.ALLOCATED}, target=S.IN_STOCK),
        "assign": Transition(sources={S.ALLOCATED}, target=S.ASSIGNED),
        "reassign": Transition(sources=_HELD, target=_unchanged),
        "unassign": Transition(sources=_HELD, target=S.ALLOCATED),
        # A terminal whose credentials were revoked activates again with a new code.
        "activate": Transition(sources={S.ASSIGNED, S.ACTIVE}, target=S.ACTIVE),
        "suspend": Transition(sources={S.ACTIVE}, target=S.SUSPENDED),
        "resume": Transition(sources={S.SUSPENDED}, target=S.ACTIVE),
        "retire": Transition(sources={*_LIVE, S.LOST}, target=S.RETIRED),
        "mark_lost": Transition(sources=_LIVE, target=S.LOST),
        "revoke_credentials": Transition(sources=_HELD, target=_unchanged),
        "issue_activation_code": Transition(sources=_HELD, target=_unchanged),
    },
)


def move(
    terminal: Terminal, *, action: str, actor, reason: str = "", fields: dict | None = None, **data
) -> Terminal:
    """Apply `action` to a terminal (locked again inside), with audit row and timeline event."""
    before = terminal.state
    tenancy_move(
        terminal,
        action=action,
        actor=actor,
        reason=reason,
        fields=fields,
        metadata={"serial": terminal.serial, **data},
    )
    TerminalEvent.objects.create(
        terminal=terminal,
        enterprise_id=terminal.enterprise_id,
        kind=f"lifecycle.{action}",
        at=timezone.now(),
        data={"from": before, "to": terminal.state, "reason": reason, **data},
        actor=actor.label[:200],
    )
    return terminal

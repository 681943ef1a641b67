"""Permission-matrix entries for the terminals API (see tests/tenancy/matrix.py)."""

from terminals.models import RegistrationBatch, Terminal
from terminals.services import fleet
from tests.tenancy.matrix import Case, codes
from tests.terminals.factories import SYSTEM, active, assigned, in_stock

OPS_READ = {"ops_admin": 200, "ops_reviewer": 200, "ops_support": 200}
# Who sees a terminal assigned to tenant A's first store: all of A's roles and ops.
SEES = {
    **OPS_READ,
    "enterprise_admin": 200,
    "merchant_manager": 200,
    "cashier": 200,
    "auditor": 200,
    "api_key": 200,
}
# Seen but not theirs to change: 403 from the service.
READ_ONLY = {
    "ops_reviewer": 403,
    "ops_support": 403,
    "merchant_manager": 403,
    "cashier": 403,
    "auditor": 403,
    "api_key": 403,
}


def _active(world, tenant):
    terminal, _ = active(tenant)
    return {"kwargs": {"pk": terminal.pk}}


def _suspended(world, tenant):
    terminal, _ = active(tenant)
    fleet.terminal_suspend(actor=SYSTEM, terminal_id=terminal.pk)
    return {"kwargs": {"pk": terminal.pk}}


def _assigned(world, tenant):
    terminal, _ = assigned(tenant)
    return {"kwargs": {"pk": terminal.pk}}


def _allocated(world, tenant):
    (terminal,) = in_stock()
    fleet.terminals_allocate(
        actor=SYSTEM, terminal_ids=[terminal.pk], enterprise_id=tenant.enterprise.pk
    )
    return {"kwargs": {"pk": terminal.pk}, "body": {"store": tenant.store.pk}}


def _reassign(world, tenant):
    terminal, _ = active(tenant)
    return {"kwargs": {"pk": terminal.pk}, "body": {"store": tenant.store2.pk}}


def _allocate(world, tenant):
    (terminal,) = in_stock()
    return {"body": {"terminals": [terminal.pk], "enterprise": tenant.enterprise.pk}}


def _bulk(world, tenant):
    terminal, _ = active(tenant)
    return {"body": {"action": "suspend", "terminals": [terminal.pk]}}


def _display(world, tenant):
    terminal, _ = active(tenant)
    return {"kwargs": {"pk": terminal.pk}, "body": {"kind": "display", "payload": {"text": "hi"}}}


def _batch(world, tenant):
    batch = RegistrationBatch.objects.create(
        content="serial,model,hardware_revision,manufacture_date\n"
    )
    return {"kwargs": {"pk": batch.pk}}


def _csv(world, tenant):
    content = "serial,model,hardware_revision,manufacture_date\nWST01-55550001,WST01,B,2026-01-01\n"
    return {"body": {"filename": "batch.csv", "content": content}}


def _activation(world, tenant):
    return {"body": {"serial": "WST01-00000000", "code": "AAAA-AAAA"}}


def _change(**overrides):
    """An enterprise-level change: ops admins and enterprise admins; 403 for other viewers."""
    expected = {"ops_admin": 200, "enterprise_admin": 200, **READ_ONLY, **overrides}
    return codes(404, anonymous=403, **expected)


CASES = [
    Case("terminal-list", "get", codes(200, anonymous=403), model=Terminal, foreign=None),
    Case("terminal-summary", "get", codes(200, anonymous=403), foreign=None),
    Case("terminal-detail", "get", codes(404, anonymous=403, **SEES), target=_active),
    Case("terminal-timeline", "get", codes(404, anonymous=403, **SEES), target=_active),
    Case("terminal-commands", "get", codes(404, anonymous=403, **SEES), target=_active),
    Case(
        "terminal-commands",
        "post",
        codes(
            404,
            anonymous=403,
            **{
                **READ_ONLY,
                "ops_admin": 202,
                "enterprise_admin": 202,
                "merchant_manager": 202,
            },
        ),
        target=_display,
    ),
    Case(
        "terminal-rotate-secret",
        "post",
        codes(404, anonymous=403, **{**READ_ONLY, "ops_admin": 202, "enterprise_admin": 202}),
        target=_active,
    ),
    Case(
        "terminal-allocate",
        "post",
        codes(404, anonymous=403, ops_admin=200, ops_reviewer=403, ops_support=403),
        target=_allocate,
    ),
    Case("terminal-bulk", "post", codes(200, anonymous=403), target=_bulk, foreign=200),
    # An allocated terminal has no merchant or store yet: only the enterprise level sees it.
    Case(
        "terminal-assign",
        "post",
        codes(
            404,
            anonymous=403,
            ops_admin=200,
            ops_reviewer=403,
            ops_support=403,
            enterprise_admin=200,
            auditor=403,
        ),
        target=_allocated,
    ),
    Case("terminal-activation-code", "post", _change(), target=_assigned),
    Case("terminal-reassign", "post", _change(), target=_reassign),
    Case("terminal-unassign", "post", _change(), target=_active),
    Case("terminal-suspend", "post", _change(), target=_active),
    Case("terminal-resume", "post", _change(), target=_suspended),
    Case("terminal-revoke-credentials", "post", _change(), target=_active),
    Case("terminal-retire", "post", _change(enterprise_admin=403), target=_active),
    Case("terminal-report-lost", "post", _change(), target=_active),
    Case(
        "terminal-batch-list",
        "get",
        codes(403, **OPS_READ),
        foreign=None,
        label="ops only",
    ),
    Case(
        "terminal-batch-list",
        "post",
        codes(403, ops_admin=202),
        target=_csv,
        foreign=None,
        label="upload",
    ),
    Case("terminal-batch-detail", "get", codes(403, **OPS_READ), target=_batch, foreign=403),
    Case("terminal-activation", "post", codes(400), target=_activation, foreign=None),
]

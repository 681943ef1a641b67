"""Terminal rows for tests, and helpers that walk a terminal through its lifecycle by services."""

import itertools

from tenancy.principals import Principal
from terminals.models import HardwareModel, Terminal
from terminals.services import fleet

_units = itertools.count(100001)
SYSTEM = Principal.system("tests")


def b1s() -> HardwareModel:
    # get_or_create: transactional tests flush the table that the data migration filled.
    model, _ = HardwareModel.objects.get_or_create(
        code="WST01", defaults={"name": "B1s", "links": ["usb", "otg", "bluetooth"]}
    )
    return model


def in_stock(count: int = 1) -> list[Terminal]:
    terminals = []
    for _ in range(count):
        serial = f"WST01-{next(_units):08d}"
        terminals.append(
            Terminal.objects.create(
                serial=serial,
                bluetooth_name=Terminal.bluetooth_name_for(serial),
                hardware_model=b1s(),
                hardware_revision="B",
            )
        )
    return terminals


def assigned(tenant) -> tuple[Terminal, str]:
    """A terminal allocated to the tenant's enterprise and assigned to its store; and its code."""
    (terminal,) = in_stock()
    fleet.terminals_allocate(
        actor=SYSTEM, terminal_ids=[terminal.pk], enterprise_id=tenant.enterprise.pk
    )
    done = fleet.terminal_assign(actor=SYSTEM, terminal_id=terminal.pk, store_id=tenant.store.pk)
    terminal.refresh_from_db()
    return terminal, done.activation_code


def active(tenant) -> tuple[Terminal, str]:
    """An active terminal and its device secret."""
    terminal, code = assigned(tenant)
    activated = fleet.terminal_activate(serial=terminal.serial, code=code)
    terminal.refresh_from_db()
    return terminal, activated.secret

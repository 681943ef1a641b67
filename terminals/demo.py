"""A demo fleet for `make run` and the simulator: terminals registered, assigned and activated."""

import json
from datetime import date

from django.db import transaction

from config import embedded
from terminals.models import HardwareModel, Terminal
from terminals.models import TerminalState as S
from terminals.services import fleet

DEMO_SERIAL_BASE = 90_000_000


def _system():
    from tenancy.principals import Principal

    return Principal.system("demo fleet")


def secrets_path():
    return embedded.var_dir() / "simulator-secrets.json"


def load_secrets() -> dict[str, str]:
    path = secrets_path()
    return json.loads(path.read_text()) if path.exists() else {}


def save_secrets(secrets: dict[str, str]) -> None:
    path = secrets_path()
    path.write_text(json.dumps(secrets, indent=1))
    path.chmod(0o600)


@transaction.atomic
def demo_stores():
    """Operating stores to put demo terminals in; creates a demo enterprise if there is none."""
    from tenancy.models import Enterprise, EnterpriseState, Merchant, Store

    stores = list(
        Store.objects.filter(
            enterprise__state__in=[EnterpriseState.TRIAL, EnterpriseState.ACTIVE]
        ).order_by("pk")[:10]
    )
    if stores:
        return stores
    enterprise = Enterprise.objects.create(
        legal_name="Shouyin Demo Retail Co., Ltd.",
        display_name="Demo Retail",
        state=EnterpriseState.TRIAL,
        trial_starts_on=date.today(),
        trial_ends_on=date(date.today().year + 1, 12, 31),
        terminal_quota=200,
    )
    merchant = Merchant.objects.create(enterprise=enterprise, name="Demo Convenience")
    return [
        Store.objects.create(enterprise=enterprise, merchant=merchant, name=name, city=city)
        for name, city in (("Nanjing Road", "Shanghai"), ("West Lake", "Hangzhou"))
    ]


def register_demo_terminals(count: int) -> list[Terminal]:
    model, _ = HardwareModel.objects.get_or_create(
        code="WST01", defaults={"name": "B1s", "links": ["usb", "otg", "bluetooth"]}
    )
    terminals = []
    for n in range(count):
        serial = f"WST01-{DEMO_SERIAL_BASE + n + 1:08d}"
        terminal, _ = Terminal.objects.get_or_create(
            serial=serial,
            defaults={
                "bluetooth_name": Terminal.bluetooth_name_for(serial),
                "hardware_model": model,
                "hardware_revision": "B",
            },
        )
        terminals.append(terminal)
    return terminals


def provision(count: int) -> list[tuple[Terminal, str | None, str | None]]:
    """Bring `count` demo terminals to a state where a device can run: (terminal, secret, code).

    A terminal with a saved secret is returned with it; otherwise it gets an activation code
    (allocated and assigned first when needed) for the simulator to activate over HTTP.
    """
    stores = demo_stores()
    secrets = load_secrets()
    actor = _system()
    out = []
    for n, terminal in enumerate(register_demo_terminals(count)):
        store = stores[n % len(stores)]
        if terminal.state in (S.RETIRED, S.LOST):
            continue
        if terminal.state == S.IN_STOCK:
            try:
                fleet.terminals_allocate(
                    actor=actor, terminal_ids=[terminal.pk], enterprise_id=store.enterprise_id
                )
            except fleet.QuotaExceeded:
                continue
            terminal.refresh_from_db()
        if terminal.state == S.ALLOCATED:
            done = fleet.terminal_assign(actor=actor, terminal_id=terminal.pk, store_id=store.pk)
            out.append((done.terminal, None, done.activation_code))
            continue
        if terminal.state == S.SUSPENDED:
            fleet.terminal_resume(actor=actor, terminal_id=terminal.pk)
        terminal.refresh_from_db()
        if terminal.has_credentials and terminal.serial in secrets:
            out.append((terminal, secrets[terminal.serial], None))
            continue
        if terminal.has_credentials:
            fleet.terminal_revoke_credentials(actor=actor, terminal_id=terminal.pk)
        done = fleet.terminal_issue_activation_code(actor=actor, terminal_id=terminal.pk)
        out.append((done.terminal, None, done.activation_code))
    return out

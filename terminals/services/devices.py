"""Device authentication for the websocket: one indexed query on the event loop, no writes.

A reconnect storm is thousands of check-ins at once. Run through Django's sync thread, each one
waits for the GIL hand-off between the loop and that single thread (about 5 ms apiece, so ~200
check-ins a second whatever the hardware); run as one async query on the loop's own connection
(config.loop_db.LoopDatabase), they do not wait for that thread. The query is built by the ORM and compiled once; the pending commands are
fetched (on the sync thread) only for a device that is owed some.
"""

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

from channels.db import database_sync_to_async
from django.db.models import Exists, OuterRef
from django.db.models.functions import Now
from django.utils import timezone

from terminals import credentials
from terminals.models import CommandState, Terminal, TerminalCommand
from terminals.models import TerminalState as S
from terminals.protocol import CloseCode, DeviceIdentity

if TYPE_CHECKING:
    from config.loop_db import LoopDatabase


@dataclass(frozen=True)
class AuthRefused(Exception):
    close_code: int
    reason: str


_REFUSED_STATES = {
    S.IN_STOCK: (CloseCode.NOT_ASSIGNED, "not assigned to a store"),
    S.ALLOCATED: (CloseCode.NOT_ASSIGNED, "not assigned to a store"),
    S.SUSPENDED: (CloseCode.SUSPENDED, "suspended"),
    S.RETIRED: (CloseCode.RETIRED, "retired"),
    S.LOST: (CloseCode.RETIRED, "reported lost"),
}
_SERIAL_PLACEHOLDER = "\x00serial"


def _auth_rows(serial: str):
    owed = TerminalCommand.objects.filter(
        terminal_id=OuterRef("pk"),
        state__in=[CommandState.QUEUED, CommandState.SENT],
        expires_at__gt=Now(),
    )
    return (
        Terminal.objects.filter(serial=serial)
        .values(
            "pk",
            "serial",
            "state",
            "stored_key",
            "previous_stored_key",
            "previous_key_valid_until",
            "credentials_revoked_at",
            "enterprise_id",
            "merchant_id",
            "store_id",
            "heartbeat_interval",
        )
        .annotate(owes_commands=Exists(owed))[:1]
    )


@functools.cache
def _auth_sql() -> tuple[str, tuple, int]:
    sql, params = _auth_rows(_SERIAL_PLACEHOLDER).query.sql_with_params()
    return sql, params, params.index(_SERIAL_PLACEHOLDER)


async def fetch_auth_row(db: "LoopDatabase", serial: str) -> dict | None:
    """The device's credentials and state, read on the event loop (no thread hop)."""
    sql, params, at = _auth_sql()
    bound = list(params)
    bound[at] = serial
    return await db.fetchone(sql, bound)


def check_credentials(
    row: dict | None, *, serial: str, nonce: str, proof: str
) -> tuple[DeviceIdentity, int]:
    """Check a device's auth proof against its StoredKey; return its identity and heartbeat.

    Raises AuthRefused with the close code that says why. The state is checked before the proof
    so that a retired device learns it is retired rather than retrying a secret forever.
    """
    if row is None:
        raise AuthRefused(CloseCode.UNKNOWN_DEVICE, "unknown device")
    if row["state"] in _REFUSED_STATES:
        raise AuthRefused(*_REFUSED_STATES[row["state"]])
    if not row["stored_key"]:
        reason = "credentials revoked" if row["credentials_revoked_at"] else "not activated"
        raise AuthRefused(CloseCode.NO_CREDENTIALS, reason)
    keys = [row["stored_key"]]
    if (
        row["previous_stored_key"]
        and row["previous_key_valid_until"]
        and (row["previous_key_valid_until"] > timezone.now())
    ):
        keys.append(row["previous_stored_key"])
    if not any(
        credentials.verify_proof(stored_key=key, serial=serial, nonce=nonce, proof=proof)
        for key in keys
    ):
        raise AuthRefused(CloseCode.BAD_PROOF, "wrong device secret")
    identity = DeviceIdentity(
        terminal_id=row["pk"],
        serial=row["serial"],
        enterprise_id=row["enterprise_id"],
        merchant_id=row["merchant_id"],
        store_id=row["store_id"],
    )
    return identity, row["heartbeat_interval"]


async def device_check_in(
    db: "LoopDatabase", *, serial: str, nonce: str, proof: str
) -> tuple[DeviceIdentity, int, list[tuple[str, str]]]:
    """Authenticate and fetch what the device is owed: (identity, interval, [(id, frame)])."""
    from terminals.services.commands import commands_pending

    row = await fetch_auth_row(db, serial)
    identity, interval = check_credentials(row, serial=serial, nonce=nonce, proof=proof)
    pending = []
    if row["owes_commands"]:
        pending = await database_sync_to_async(commands_pending)(terminal_id=identity.terminal_id)
    return identity, interval, pending

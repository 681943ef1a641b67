"""Device authentication for the websocket: one indexed query, no writes."""

from dataclasses import dataclass

from django.utils import timezone

from terminals import credentials
from terminals.models import Terminal
from terminals.models import TerminalState as S
from terminals.protocol import CloseCode, DeviceIdentity


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


def device_authenticate(*, serial: str, nonce: str, proof: str) -> tuple[DeviceIdentity, int]:
    """Check a device's auth proof against its StoredKey; return its identity and heartbeat.

    Raises AuthRefused with the close code that says why. The state is checked before the proof
    so that a retired device learns it is retired rather than retrying a secret forever.
    """
    row = (
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
        .first()
    )
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


def device_check_in(*, serial: str, nonce: str, proof: str):
    """Authenticate and fetch what the device is owed, in one thread hop: (identity, interval,
    [(command id, frame)]). A reconnect storm pays one trip to the database thread per device."""
    from terminals.services.commands import commands_pending

    identity, interval = device_authenticate(serial=serial, nonce=nonce, proof=proof)
    return identity, interval, commands_pending(terminal_id=identity.terminal_id)

"""Idempotency-Key, as the IETF draft and Stripe use it.

The first request with a key claims it (a row unique on principal + key, with a fingerprint of the
method, path and body); its response is stored and replayed to every repeat with the same body.
A repeat with another body is refused with 422; a repeat while the first is still running gets
409. Keys expire after IDEMPOTENCY_KEY_TTL (24 h). A request that fails before it created
anything (validation, an offline terminal) releases its key, so the client may fix and retry it.
If the process handling the first request died, its claim lapses after IDEMPOTENCY_LOCK_SECONDS;
a repeat then answers with what the first request created (it is linked to the key in the same
transaction that created it), or runs afresh if it created nothing.
"""

import hashlib
import hmac
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework import status

from config.api_errors import ApiError, Conflict
from payments.models import IdempotencyKey
from tenancy.principals import Principal

KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")


class KeyReusedWithOtherRequest(ApiError):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    code = "idempotency_key_reused"


class KeyInFlight(Conflict):
    code = "idempotency_key_in_flight"


@dataclass(frozen=True)
class Outcome:
    status: int
    body: dict
    replayed: bool = False


def principal_key(principal: Principal) -> str:
    if principal.api_key_id:
        return f"api_key:{principal.api_key_id}"
    if principal.user_id:
        return f"user:{principal.user_id}"
    raise ApiError("Idempotency-Key needs an API key or a signed-in user.", code="bad_request")


def fingerprint(method: str, path: str, body: Any) -> str:
    """A keyed digest of the request: a body may hold a payment code, so no plain hash of it."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    message = f"{method} {path}\n{canonical}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()


def validate_key(key: str) -> str:
    if not KEY_PATTERN.match(key):
        raise ApiError(
            "Idempotency-Key must be 1–255 visible ASCII characters (a UUID is a good choice).",
            code="invalid_idempotency_key",
        )
    return key


def _enterprise_of(principal: Principal) -> int | None:
    ids = principal.member_enterprise_ids
    return next(iter(ids)) if len(ids) == 1 else None


def _claim(principal: Principal, key: str, print_: str) -> tuple[IdempotencyKey, Outcome | None]:
    """Claim the key, or return the stored outcome of its first request; raise 422 / 409."""
    now = timezone.now()
    owner = principal_key(principal)
    lock = timedelta(seconds=settings.IDEMPOTENCY_LOCK_SECONDS)
    with transaction.atomic():
        row = IdempotencyKey.objects.select_for_update().filter(principal=owner, key=key).first()
        if row is not None and row.expires_at <= now:
            row.delete()
            row = None
        if row is None:
            try:
                with transaction.atomic():
                    row = IdempotencyKey.objects.create(
                        enterprise_id=_enterprise_of(principal),
                        principal=owner,
                        key=key,
                        fingerprint=print_,
                        locked_until=now + lock,
                        expires_at=now + timedelta(seconds=settings.IDEMPOTENCY_KEY_TTL),
                    )
            except IntegrityError:
                raise KeyInFlight(
                    "A request with this Idempotency-Key is still being processed."
                ) from None
            return row, None
        if row.fingerprint != print_:
            raise KeyReusedWithOtherRequest(
                "This Idempotency-Key was used with a different request; use a new key."
            )
        if row.response_status is not None:
            return row, Outcome(row.response_status, row.response_body or {}, replayed=True)
        if row.locked_until > now:
            raise KeyInFlight("A request with this Idempotency-Key is still being processed.")
        # The first request's process died: take the key over.
        row.locked_until = now + lock
        row.save(update_fields=["locked_until"])
        return row, None


def _store(row: IdempotencyKey, outcome: Outcome) -> None:
    IdempotencyKey.objects.filter(pk=row.pk).update(
        response_status=outcome.status, response_body=outcome.body
    )


def new_claim(
    principal: Principal, key: str, print_: str, *, payment_id: int | None = None
) -> IdempotencyKey:
    """A claim row as `_claim` creates it, not yet saved (payments.services.till_micropay writes
    it in the statement that creates the payment)."""
    now = timezone.now()
    return IdempotencyKey(
        enterprise_id=_enterprise_of(principal),
        principal=principal_key(principal),
        key=key,
        fingerprint=print_,
        payment_id=payment_id,
        created_at=now,
        locked_until=now + timedelta(seconds=settings.IDEMPOTENCY_LOCK_SECONDS),
        expires_at=now + timedelta(seconds=settings.IDEMPOTENCY_KEY_TTL),
    )


def store_outcome(principal: Principal, key: str, outcome: Outcome) -> None:
    """Store the response of the request that holds the claim on `key`."""
    IdempotencyKey.objects.filter(principal=principal_key(principal), key=key).update(
        response_status=outcome.status, response_body=outcome.body
    )


def idempotent(
    *,
    principal: Principal,
    key: str | None,
    method: str,
    path: str,
    body: Any,
    run: Callable[[IdempotencyKey | None], Outcome],
    resume: Callable[[IdempotencyKey], Outcome | None],
) -> Outcome:
    """Run `run(key_row)` once per key; replay its outcome to repeats.

    `run` creates what the request creates and links it to the key row in the same transaction
    (payment_id / refund_id). `resume(row)` answers for a lapsed claim whose request created
    something; it returns None if nothing was created, and the request runs again.
    """
    if key is None:
        return run(None)
    row, stored = _claim(principal, validate_key(key), fingerprint(method, path, body))
    if stored is not None:
        return stored
    # The row is current: just created, or read under its lock when a lapsed claim was taken over.
    if row.payment_id or row.refund_id:
        resumed = resume(row)
        if resumed is not None:
            _store(row, resumed)
            return resumed
    try:
        outcome = run(row)
    except ApiError:
        row.refresh_from_db()
        if not (row.payment_id or row.refund_id):
            row.delete()  # nothing was created: the client may correct the request and retry
        raise
    except Exception:
        row.refresh_from_db()
        if not (row.payment_id or row.refund_id):
            row.delete()
        raise
    _store(row, outcome)
    return outcome


def idempotency_keys_purge() -> int:
    """Delete expired keys (idempotent; a beat task calls it)."""
    deleted, _ = IdempotencyKey.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted

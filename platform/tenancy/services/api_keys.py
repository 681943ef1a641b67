"""API keys for merchant systems: created once, stored hashed, revocable."""

import hashlib
import hmac
import logging
import secrets
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from tenancy.audit import audit_record
from tenancy.models import ApiKey, Merchant
from tenancy.principals import Principal
from tenancy.services.guards import require, require_merchant_manager

logger = logging.getLogger(__name__)

KEY_PREFIX = "sy_"
# last_used_at is a hint, not a log: write it at most this often per key.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def _hash(secret: str) -> str:
    # Keys are 256-bit random values, so a fast hash is enough: there is nothing to brute-force.
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(secret_hash: str, secret: str) -> bool:
    return hmac.compare_digest(secret_hash, _hash(secret))


def split_raw_key(raw_key: str) -> tuple[str, str] | None:
    """(prefix, secret) of a raw key as a client sends it; None if it is not shaped like one."""
    return _split(raw_key.strip())


def _split(raw: str) -> tuple[str, str] | None:
    if not raw.startswith(KEY_PREFIX):
        return None
    prefix, _, secret = raw[len(KEY_PREFIX) :].partition(".")
    if len(prefix) != 8 or not secret:
        return None
    return prefix, secret


@transaction.atomic
def api_key_create(
    *, actor: Principal, merchant: Merchant, name: str, expires_at: datetime | None = None
) -> tuple[ApiKey, str]:
    """Create a key for one merchant; return it with the full key, which is never shown again."""
    require_merchant_manager(actor, enterprise_id=merchant.enterprise_id, merchant_id=merchant.pk)
    require(actor.user_id is not None or actor.is_system, "API keys are created by people.")
    prefix = secrets.token_hex(4)
    secret = secrets.token_urlsafe(32)
    key = ApiKey.objects.create(
        enterprise_id=merchant.enterprise_id,
        merchant=merchant,
        name=name,
        prefix=prefix,
        secret_hash=_hash(secret),
        created_by_id=actor.user_id,
        expires_at=expires_at,
    )
    audit_record(
        actor=actor,
        action="api_key.create",
        target=key,
        changes={"name": [None, name], "prefix": [None, prefix]},
    )
    return key, f"{KEY_PREFIX}{prefix}.{secret}"


def api_key_group(api_key_id: int) -> str:
    """The channel group of one key's live connections (a till's /ws/payments/, for one)."""
    return f"api_key.{api_key_id}"


@transaction.atomic
def api_key_revoke(*, actor: Principal, api_key: ApiKey, reason: str = "") -> ApiKey:
    """Revoke a key at once: refused from now on, audited.

    After commit, publishes `api_key.revoked` to the key's group, so connections opened with it
    (whichever node holds them) close now rather than at their next re-check.
    """
    require_merchant_manager(
        actor, enterprise_id=api_key.enterprise_id, merchant_id=api_key.merchant_id
    )
    key = ApiKey.objects.select_for_update().get(pk=api_key.pk)
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        audit_record(
            actor=actor,
            action="api_key.revoke",
            target=key,
            changes={"revoked_at": [None, key.revoked_at]},
            reason=reason,
        )
        key_id = key.pk
        transaction.on_commit(lambda: _announce_revoked(key_id))
    return key


def _announce_revoked(api_key_id: int) -> None:
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    message = {"type": "api_key.revoked", "api_key_id": api_key_id}
    try:
        async_to_sync(get_channel_layer().group_send)(api_key_group(api_key_id), message)
    except Exception:  # an unreachable layer must not undo the revocation: connections re-check
        logger.warning("could not announce the revocation of api key %s", api_key_id,
                       exc_info=True)  # fmt: skip


def api_key_authenticate(*, raw_key: str) -> ApiKey | None:
    """Return the usable key matching `raw_key`, recording its use; None for anything else."""
    parts = split_raw_key(raw_key)
    if parts is None:
        return None
    prefix, secret = parts
    key = ApiKey.objects.select_related("merchant", "enterprise").filter(prefix=prefix).first()
    if key is None or not secret_matches(key.secret_hash, secret):
        return None
    if not key.is_usable:
        return None
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
        # A conditional UPDATE: concurrent requests do not queue on a row lock for a hint.
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key

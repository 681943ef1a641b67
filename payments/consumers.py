"""The till's live feed: payment and refund updates for the terminals it may see.

`/ws/payments/` accepts a signed-in cashier's session or, for a merchant system, the header
`Authorization: Api-Key …` (never a query string). The client subscribes per terminal:

    → {"type": "subscribe", "terminal": 12, "id": "m1"}
    ← {"type": "subscribed", "terminal": 12, "ref": "m1"}
    ← {"type": "payment.updated", "payment_id": 9, "state": "succeeded", ...}

A terminal the principal cannot see answers exactly like one that does not exist.

A connection opened with an API key closes (code 4401) as soon as the key is revoked: the
revocation publishes to the key's group (`api_key.<id>`), which the connection joined. A key that
is deleted, expires or is revoked while the layer was unreachable is caught by a re-check every
PAYMENTS_TILL_KEY_RECHECK_SECONDS (and at the key's expiry): one query per connection per
interval, never one per event.
"""

import asyncio
import logging
from datetime import datetime

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.utils import timezone

from tenancy.principals import Principal

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401


def _api_key_from_headers(headers) -> str | None:
    for name, value in headers:
        if name == b"authorization":
            keyword, _, raw = value.decode("latin-1").partition(" ")
            return raw if keyword == "Api-Key" else None
    return None


@database_sync_to_async
def _authenticate(scope) -> tuple[Principal | None, datetime | None]:
    """Return the connection's principal (None if refused) and, for an API key, its expiry."""
    raw = _api_key_from_headers(scope.get("headers", []))
    if raw:
        from tenancy.services.api_keys import api_key_authenticate

        key = api_key_authenticate(raw_key=raw)
        return (Principal.for_api_key(key), key.expires_at) if key else (None, None)
    user = scope.get("user")
    if user is not None and user.is_authenticated and user.is_active:
        return Principal.for_user(user), None
    return None, None


@database_sync_to_async
def _key_usable(api_key_id: int) -> bool:
    from tenancy.models import ApiKey

    key = ApiKey.objects.filter(pk=api_key_id).only("revoked_at", "expires_at").first()
    return key is not None and key.is_usable


@database_sync_to_async
def _visible_terminal(principal: Principal, terminal_id) -> bool:
    from tenancy.scoping import scope
    from terminals.models import Terminal

    try:
        return scope(principal, Terminal).filter(pk=int(terminal_id)).exists()
    except (TypeError, ValueError):
        return False


class TillConsumer(AsyncJsonWebsocketConsumer):
    """Forward payment updates of subscribed terminals to a till (cashier or merchant system)."""

    async def connect(self) -> None:
        self.principal, expires_at = await _authenticate(self.scope)
        if self.principal is None:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.groups_joined: set[str] = set()
        self.key_watch: asyncio.Task | None = None
        if self.principal.api_key_id:
            from tenancy.services.api_keys import api_key_group

            group = api_key_group(self.principal.api_key_id)
            await self.channel_layer.group_add(group, self.channel_name)
            self.groups_joined.add(group)
            self.key_watch = asyncio.create_task(self._watch_key(expires_at))
        await self.accept()

    async def disconnect(self, code) -> None:
        watch = getattr(self, "key_watch", None)
        if watch is not None:
            watch.cancel()
        for group in getattr(self, "groups_joined", ()):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def _watch_key(self, expires_at: datetime | None) -> None:
        """Close the connection once its key is no longer usable (deleted, expired, revoked)."""
        while True:
            wait = float(settings.PAYMENTS_TILL_KEY_RECHECK_SECONDS)
            if expires_at is not None:
                # At least a second: past expiry with the database away must not spin.
                wait = max(1.0, min(wait, (expires_at - timezone.now()).total_seconds()))
            await asyncio.sleep(wait)
            try:
                usable = await _key_usable(self.principal.api_key_id)
            except Exception:  # the database is away: keep the till, ask again next time
                logger.warning("till: could not re-check api key %s", self.principal.api_key_id,
                               exc_info=True)  # fmt: skip
                continue
            if not usable:
                await self.close(code=CLOSE_UNAUTHENTICATED)
                return

    async def api_key_revoked(self, event) -> None:
        # Only the key's own group carries this message; the check costs nothing.
        if event.get("api_key_id") == self.principal.api_key_id:
            await self.close(code=CLOSE_UNAUTHENTICATED)

    async def receive_json(self, content, **kwargs) -> None:
        ref = content.get("id") if isinstance(content, dict) else None
        if not isinstance(content, dict) or content.get("type") != "subscribe":
            await self.send_json({"type": "error", "code": "unknown_type", "ref": ref,
                                  "message": 'send {"type": "subscribe", "terminal": <id>}'})  # fmt: skip
            return
        terminal = content.get("terminal")
        if not await _visible_terminal(self.principal, terminal):
            await self.send_json({"type": "error", "code": "not_found", "ref": ref,
                                  "message": "No such terminal."})  # fmt: skip
            return
        group = f"terminal.{int(terminal)}"
        await self.channel_layer.group_add(group, self.channel_name)
        self.groups_joined.add(group)
        await self.send_json({"type": "subscribed", "terminal": int(terminal), "ref": ref})

    async def dispatch(self, message) -> None:
        # Other apps publish to terminal groups too (presence, commands): not the till's business.
        if message["type"].startswith("websocket.") or message["type"] in (
            "payment.updated",
            "refund.updated",
            "api_key.revoked",
        ):
            await super().dispatch(message)

    async def payment_updated(self, event) -> None:
        if _may_see(self.principal, event):
            await self.send_json(event)

    async def refund_updated(self, event) -> None:
        if _may_see(self.principal, event):
            await self.send_json(event)


def _may_see(principal: Principal, event: dict) -> bool:
    """Check every event, not only the subscription: a terminal can move to another merchant's
    store while a till stays subscribed to it."""
    return (
        principal.sees_every_tenant
        or event.get("enterprise_id") in principal.enterprise_ids
        or event.get("merchant_id") in principal.merchant_ids
        or event.get("store_id") in principal.store_ids
    )

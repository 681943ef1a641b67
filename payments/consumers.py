"""The till's live feed: payment and refund updates for the terminals it may see.

`/ws/payments/` accepts a signed-in cashier's session or, for a merchant system, the header
`Authorization: Api-Key …` (never a query string). The client subscribes per terminal:

    → {"type": "subscribe", "terminal": 12, "id": "m1"}
    ← {"type": "subscribed", "terminal": 12, "ref": "m1"}
    ← {"type": "payment.updated", "payment_id": 9, "state": "succeeded", ...}

A terminal the principal cannot see answers exactly like one that does not exist.
"""

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from tenancy.principals import Principal


def _api_key_from_headers(headers) -> str | None:
    for name, value in headers:
        if name == b"authorization":
            keyword, _, raw = value.decode("latin-1").partition(" ")
            return raw if keyword == "Api-Key" else None
    return None


@database_sync_to_async
def _principal(scope) -> Principal | None:
    raw = _api_key_from_headers(scope.get("headers", []))
    if raw:
        from tenancy.services.api_keys import api_key_authenticate

        key = api_key_authenticate(raw_key=raw)
        return Principal.for_api_key(key) if key else None
    user = scope.get("user")
    if user is not None and user.is_authenticated and user.is_active:
        return Principal.for_user(user)
    return None


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
        self.principal = await _principal(self.scope)
        if self.principal is None:
            await self.close(code=4401)
            return
        self.groups_joined: set[str] = set()
        await self.accept()

    async def disconnect(self, code) -> None:
        for group in getattr(self, "groups_joined", ()):
            await self.channel_layer.group_discard(group, self.channel_name)

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

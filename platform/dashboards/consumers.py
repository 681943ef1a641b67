import logging

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from config.request_id import set_request_id
from dashboards.groups import groups_for
from tenancy.principals import Principal

logger = logging.getLogger(__name__)

PROTOCOL_VERSION = 1
CLOSE_UNAUTHENTICATED = 4401


class DashboardConsumer(AsyncJsonWebsocketConsumer):
    """Push live events (presence, payments, commands…) to a signed-in person's dashboard.

    Joins only the groups the principal's scope allows (dashboards.groups). Publishers send any
    `type` to those groups; every group message is forwarded to the browser as
    {"v": 1, "type": <type>, "data": <the message without its type>}, so a new kind of event
    needs no change here.
    """

    async def connect(self) -> None:
        self.request_id = set_request_id()
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        principal = await database_sync_to_async(Principal.for_user)(user)
        self.groups_joined = groups_for(principal)
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        await self.send_json(
            {"v": PROTOCOL_VERSION, "type": "welcome", "data": {"groups": self.groups_joined}}
        )
        logger.info("dashboard connected: %s joined %s", principal.label, self.groups_joined)

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive_json(self, content, **kwargs) -> None:
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json(
                {"v": PROTOCOL_VERSION, "type": "pong", "data": {"id": content.get("id")}}
            )
        else:
            await self.send_json(
                {"v": PROTOCOL_VERSION, "type": "error", "data": {"code": "unknown_type"}}
            )

    async def dispatch(self, message: dict) -> None:
        if message["type"].startswith("websocket."):
            await super().dispatch(message)
            return
        data = {key: value for key, value in message.items() if key != "type"}
        await self.send_json({"v": PROTOCOL_VERSION, "type": message["type"], "data": data})

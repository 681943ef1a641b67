import logging
import time

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from config.request_id import set_request_id

logger = logging.getLogger(__name__)


class PingConsumer(AsyncJsonWebsocketConsumer):
    """Answer {"type": "ping", "id": ...} with a pong and the server time: a round-trip probe."""

    async def connect(self) -> None:
        self.request_id = set_request_id()
        await self.accept()
        logger.debug("ping socket connected")

    async def receive_json(self, content, **kwargs) -> None:
        if not isinstance(content, dict) or content.get("type") != "ping":
            await self.send_json(
                {"type": "error", "code": "unknown_type", "message": 'send {"type": "ping"}'}
            )
            return
        await self.send_json({"type": "pong", "id": content.get("id"), "server_time": time.time()})

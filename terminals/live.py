"""Messages that leave a transaction: to the node holding a device, and to dashboard groups.

Call these only from `transaction.on_commit` (the helpers below do it for you), so nobody hears
about a change that rolled back. They are the fast path: durable state (the command row, the
terminal's state) is what a reconnecting device or a flush task reads again.
"""

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from terminals import presence

logger = logging.getLogger(__name__)


def _send(channel: str, message: dict) -> None:
    layer = get_channel_layer()
    try:
        async_to_sync(layer.send)(channel, message)
    except Exception:  # a full or unreachable layer: the device gets it on reconnect
        logger.warning("could not reach node channel %s", channel, exc_info=True)


def node_channel(live: dict | None) -> str | None:
    """The node channel of a terminal's presence hash; None when it is not connected."""
    if not live or live.get("connected") != "1":
        return None
    return live.get("channel") or None


def to_device_node(terminal_id: int, message: dict) -> bool:
    """Send a router message to the node the terminal is connected to; False if it is not."""
    channel = node_channel(presence.read(terminal_id))
    if channel is None:
        return False
    _send(channel, {**message, "terminal_id": terminal_id})
    return True


async def deliver_from_loop(
    live: dict | None, terminal_id: int, frame: str, command_id: str
) -> None:
    """`deliver_on_commit`'s delivery, from the event loop, to the node in `live` (the terminal's
    presence hash as the caller read it): a device that moved meanwhile gets it on reconnect."""
    channel = node_channel(live)
    if channel is None:
        return
    message = {"type": "terminal.deliver", "frame": frame, "command_id": command_id}
    try:
        await get_channel_layer().send(channel, {**message, "terminal_id": terminal_id})
    except Exception:
        logger.warning("could not reach node channel %s", channel, exc_info=True)


def deliver_on_commit(terminal_id: int, frame: str, command_id: str) -> None:
    transaction.on_commit(
        lambda: to_device_node(
            terminal_id, {"type": "terminal.deliver", "frame": frame, "command_id": command_id}
        )
    )


def close_on_commit(terminal_id: int, *, code: int, reason: str) -> None:
    """Close the device's live connection, wherever it is, and forget its live presence."""

    def close() -> None:
        to_device_node(terminal_id, {"type": "terminal.close", "code": code, "reason": reason})

    transaction.on_commit(close)


def group_names(*, store_id=None, merchant_id=None, enterprise_id=None) -> list[str]:
    names = [f"store.{store_id}"] if store_id else []
    names += [f"merchant.{merchant_id}"] if merchant_id else []
    names += [f"enterprise.{enterprise_id}"] if enterprise_id else []
    return [*names, "ops"]


def publish(groups: list[str], message: dict) -> None:
    layer = get_channel_layer()

    async def send_all() -> None:
        for group in groups:
            await layer.group_send(group, message)

    try:
        async_to_sync(send_all)()
    except Exception:
        logger.warning("could not publish %s", message.get("type"), exc_info=True)


def publish_on_commit(groups: list[str], message: dict) -> None:
    transaction.on_commit(lambda: publish(groups, message))

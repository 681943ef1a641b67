"""Announce payment and refund changes after commit, to every group that may show them.

Groups: `terminal.<id>` (the device's customer screen and the till that subscribed to it),
`store.<id>`, `merchant.<id>`, `enterprise.<id>` and `ops`. The fast path only: clients resync
from the API after a reconnect, so a lost message costs a refresh, never money.
"""

import asyncio
import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from payments.models import Payment, Refund

logger = logging.getLogger(__name__)


def payment_groups(payment: Payment) -> list[str]:
    return [
        f"terminal.{payment.terminal_id}",
        f"store.{payment.store_id}",
        f"merchant.{payment.merchant_id}",
        f"enterprise.{payment.enterprise_id}",
        "ops",
    ]


def payment_message(payment: Payment) -> dict:
    return {
        "type": "payment.updated",
        "payment_id": payment.pk,
        "out_trade_no": payment.out_trade_no,
        "kind": payment.kind,
        "state": payment.state,
        "amount_fen": payment.amount_fen,
        "refunded_fen": payment.refunded_fen,
        "terminal_id": payment.terminal_id,
        "store_id": payment.store_id,
        "merchant_id": payment.merchant_id,
        "enterprise_id": payment.enterprise_id,
        "err_code": payment.err_code,
    }


def refund_message(refund: Refund) -> dict:
    return {
        "type": "refund.updated",
        "refund_id": refund.pk,
        "payment_id": refund.payment_id,
        "state": refund.state,
        "amount_fen": refund.amount_fen,
        "store_id": refund.store_id,
        "merchant_id": refund.merchant_id,
        "enterprise_id": refund.enterprise_id,
    }


async def publish_from_loop(groups: list[str], message: dict) -> None:
    """Send `message` to every group, concurrently (each group_send is its own Redis round trip).
    An unreachable layer must not fail the payment: clients resync from the API."""
    layer = get_channel_layer()
    try:
        await asyncio.gather(*(layer.group_send(group, message) for group in groups))
    except Exception:
        logger.warning("could not publish %s", message["type"], exc_info=True)


def _publish(groups: list[str], message: dict) -> None:
    async_to_sync(publish_from_loop)(groups, message)


def payment_changed_on_commit(payment: Payment) -> None:
    message, groups = payment_message(payment), payment_groups(payment)
    transaction.on_commit(lambda: _publish(groups, message))


def refund_changed_on_commit(refund: Refund) -> None:
    payment = refund.payment
    message, groups = refund_message(refund), payment_groups(payment)
    transaction.on_commit(lambda: _publish(groups, message))

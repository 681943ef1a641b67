import platform
import uuid

from celery import shared_task

from config.request_id import get_request_id


@shared_task(name="config.ping", ignore_result=False, soft_time_limit=5, time_limit=10)
def ping(payload: str = "") -> dict:
    """Echo a payload with facts about the worker: a probe for tests and operators."""
    return {
        "payload": payload,
        "system": platform.system(),
        "node": platform.node(),
        "uuid": str(uuid.uuid4()),
        "request_id": get_request_id(),
    }

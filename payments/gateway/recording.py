"""Record every provider call: a GatewayCall row and a log line, both redacted."""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

logger = logging.getLogger("payments.gateway")


@dataclass(slots=True, kw_only=True)
class CallRecord:
    endpoint: str
    request_fields: dict[str, str]  # already redacted
    latency_ms: int
    http_status: int | None = None
    response_fields: dict[str, str] = field(default_factory=dict)  # already redacted
    error: str = ""


Recorder = Callable[[CallRecord], None]


def log_call(record: CallRecord) -> None:
    response = record.response_fields
    logger.info(
        "wechatpay %s out_trade_no=%s out_refund_no=%s http=%s return=%s result=%s err=%s "
        "error=%s latency_ms=%d",
        record.endpoint,
        record.request_fields.get("out_trade_no", ""),
        record.request_fields.get("out_refund_no", ""),
        record.http_status,
        response.get("return_code", ""),
        response.get("result_code", ""),
        response.get("err_code", ""),
        record.error,
        record.latency_ms,
    )


def record_to_database(record: CallRecord) -> None:
    """Log the call and store a GatewayCall row; a storage failure never fails the payment."""
    from django.db import transaction

    log_call(record)
    try:
        # A savepoint: a failed insert must not poison the caller's transaction.
        with transaction.atomic():
            gateway_call_row(record).save(force_insert=True)
    except Exception:
        # The money already moved (or not) at the provider; losing the audit row must not turn
        # a verified answer into an error for the caller.
        logger.exception("could not store the GatewayCall row for %s", record.endpoint)


def gateway_call_row(record: CallRecord):
    """The GatewayCall row of a call, not yet saved."""
    from django.utils import timezone

    from payments.models import GatewayCall

    request, response = record.request_fields, record.response_fields
    return GatewayCall(
        endpoint=record.endpoint,
        mch_id=request.get("mch_id", "")[:32],
        sub_mch_id=request.get("sub_mch_id", "")[:32],
        out_trade_no=request.get("out_trade_no", "")[:32],
        out_refund_no=request.get("out_refund_no", "")[:64],
        http_status=record.http_status,
        return_code=response.get("return_code", "")[:16],
        result_code=response.get("result_code", "")[:16],
        err_code=response.get("err_code", "")[:64],
        error=record.error[:64],
        latency_ms=record.latency_ms,
        request_fields=request,
        response_fields=response,
        created_at=timezone.now(),
    )

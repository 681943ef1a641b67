"""The HTTP edge of the till fast path (payments.services.till_micropay).

A merchant system's `POST /api/v1/payments/` with an API key and a scanned code is taken on the
event loop, without Django's request cycle (its middleware alone hops to a thread and back
several times per request). Everything else, including any such request the fast path declines,
reaches Django untouched, body and all, so the API has one behaviour: the fast path answers only
what the DRF view would have answered the same way. `PAYMENTS_TILL_FAST_PATH=false` turns it off.
"""

import json
import logging

from django.conf import settings
from django.http.request import split_domain_port, validate_host

from config.api_errors import error_body
from config.asgi_http import read_body, replay
from config.request_id import REQUEST_ID_HEADER, set_request_id
from payments.services import till_micropay

logger = logging.getLogger(__name__)

PATH = "/api/v1/payments/"
MAX_BODY_BYTES = 16 * 1024
# What Django's middleware adds to an API response (SecurityMiddleware, XFrameOptionsMiddleware).
RESPONSE_HEADERS = [
    (b"content-type", b"application/json"),
    (b"vary", b"Accept, Cookie"),
    (b"allow", b"GET, POST, HEAD, OPTIONS"),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


class TillPaymentsLane:
    """ASGI middleware in front of Django's HTTP application."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if not (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"] == PATH
            and settings.PAYMENTS_TILL_FAST_PATH
        ):
            return await self.app(scope, receive, send)
        headers = _headers(scope)
        if headers is None:
            return await self.app(scope, receive, send)
        body, complete = await read_body(receive, MAX_BODY_BYTES)
        request = complete and _parse(
            body, headers[b"authorization"], headers.get(b"idempotency-key")
        )
        if request:
            request_id = set_request_id(
                headers.get(REQUEST_ID_HEADER.lower().encode(), b"").decode("latin-1")
            )
            taken = await _take(request)
            if taken is not None:
                await _respond(send, taken, request_id)
                if taken.announce is not None:
                    await taken.announce()
                return None
        return await self.app(scope, replay(body, complete, receive), send)


def _headers(scope) -> dict[bytes, bytes] | None:
    """The request's headers if the fast path may take it, else None: an API key and no session;
    a JSON body the view's parser reads (UTF-8); an answer the view's renderer may give (JSON);
    a host Django accepts; no header given twice (Django would join them)."""
    headers: dict[bytes, bytes] = {}
    for name, value in scope["headers"]:
        if name in headers:
            return None
        headers[name] = value
    if b"cookie" in headers or not headers.get(b"authorization", b"").startswith(b"Api-Key "):
        return None
    media_type, _, parameters = headers.get(b"content-type", b"").partition(b";")
    if media_type.strip().lower() != b"application/json":
        return None
    if parameters.strip().lower().replace(b'"', b"") not in (b"", b"charset=utf-8"):
        return None
    accepted = (
        choice.split(b";")[0].strip() for choice in headers.get(b"accept", b"*/*").split(b",")
    )
    if not any(choice in (b"*/*", b"application/*", b"application/json") for choice in accepted):
        return None
    if settings.USE_X_FORWARDED_HOST and b"x-forwarded-host" in headers:
        return None
    domain, _port = split_domain_port(headers.get(b"host", b"").decode("latin-1"))
    allowed = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]  # as HttpRequest.get_host()
    if not domain or not validate_host(domain, allowed):
        return None
    return headers


def _parse(body: bytes, authorization: bytes, idempotency_key: bytes | None):
    try:
        parsed = json.loads(body.decode("utf-8"))
    except ValueError:  # UnicodeDecodeError included
        return None
    return till_micropay.parse(
        parsed,
        raw_key=authorization[len(b"Api-Key ") :].decode("latin-1"),
        idempotency_key=idempotency_key.decode("latin-1") if idempotency_key is not None else None,
    )


async def _take(request) -> "till_micropay.Taken | None":
    try:
        return await till_micropay.take(request)
    except till_micropay.PaymentNotStarted:
        logger.exception("till payment: the create statement failed with its outcome unknown")
        return till_micropay.Taken(
            503, error_body("unavailable", "The payment could not be started and the customer was "
                            "not charged; retry with the same Idempotency-Key.")
        )  # fmt: skip
    except till_micropay.PaymentWritten:
        # The payment exists and its follow-up is due: it is settled by orderquery, and a retry
        # with the same Idempotency-Key answers with it once the claim lapses.
        logger.exception("till payment: failed after the payment was written")
        return till_micropay.Taken(
            500, error_body("server_error", "The payment was started but its answer was lost; "
                            "read it back or retry with the same Idempotency-Key.")
        )  # fmt: skip
    except Exception:
        # Nothing was written: the general path takes the request (and reports what failed).
        logger.exception("till payment: the fast path failed before writing; handing over")
        return None


async def _respond(send, taken: "till_micropay.Taken", request_id: str) -> None:
    text = json.dumps(taken.body, ensure_ascii=False, separators=(",", ":"))
    # As DRF's JSONRenderer: these two are valid JSON but end a line in JavaScript.
    content = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").encode()
    await send(
        {
            "type": "http.response.start",
            "status": taken.status,
            "headers": [
                *RESPONSE_HEADERS,
                (b"content-length", str(len(content)).encode()),
                (REQUEST_ID_HEADER.lower().encode(), request_id.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": content})

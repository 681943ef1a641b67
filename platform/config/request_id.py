"""A request id on every request, carried into logs, Celery tasks and websocket consumers."""

import logging
import re
import uuid
from contextvars import ContextVar

from asgiref.sync import iscoroutinefunction, markcoroutinefunction

REQUEST_ID_HEADER = "X-Request-ID"
_request_id: ContextVar[str] = ContextVar("request_id", default="-")
# A client-supplied id is echoed into logs, so accept only a short, plain token.
_ACCEPTABLE = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")


def get_request_id() -> str:
    return _request_id.get()


def set_request_id(value: str | None = None) -> str:
    request_id = value if value and _ACCEPTABLE.match(value) else uuid.uuid4().hex
    _request_id.set(request_id)
    return request_id


class RequestIdLogFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _request_id.get()
        return True


class RequestIdMiddleware:
    """Take the caller's X-Request-ID when it is well formed, else make one; echo it back."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self._acall(request)
        request.request_id = set_request_id(request.headers.get(REQUEST_ID_HEADER))
        response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request.request_id
        return response

    async def _acall(self, request):
        request.request_id = set_request_id(request.headers.get(REQUEST_ID_HEADER))
        response = await self.get_response(request)
        response[REQUEST_ID_HEADER] = request.request_id
        return response

"""Reading a request body in an ASGI app that may pass the request on to another app.

The fast paths in front of Django (payments.till_lane, payments.sandbox.asgi) read the body to
decide whether to answer; a request they decline goes to Django with that body replayed.
"""

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


async def read_body(receive: Receive, max_bytes: int | None = None) -> tuple[bytes, bool]:
    """The body, and whether it is complete: False when the client left or, past `max_bytes`,
    the rest was left unread (replay() passes it on)."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body"):
            return b"".join(chunks), True
        if max_bytes is not None and size > max_bytes:
            return b"".join(chunks), False


def replay(body: bytes, complete: bool, receive: Receive) -> Receive:
    """A receive() that hands the next app the body already read, then the rest of the stream
    (more body, or the disconnect)."""
    pending = [{"type": "http.request", "body": body, "more_body": not complete}]

    async def replayed() -> Message:
        return pending.pop() if pending else await receive()

    return replayed

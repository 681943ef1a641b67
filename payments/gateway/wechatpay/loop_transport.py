"""HTTP/1.1 for the provider on the event loop: a keep-alive pool over asyncio and httptools.

The hot paths (a till's micropay, the follow-up batches) call the provider from the event loop.
httpx's AsyncClient cost about 0.7 ms of CPU per request here, as much as the rest of a payment
(docs/performance.md, "Payments"); this pool costs a small fraction of that. It does what the
provider's protocol needs and nothing more: POST with a body; answers framed by Content-Length,
chunked or the end of the connection; keep-alive; TLS with an optional client certificate (the
caller's ssl context); explicit connect and read timeouts. No redirects, proxies or HTTP/2.

A pool belongs to the event loop that first used it (asyncio transports cannot change loops).
"""

import asyncio
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import httptools


class ConnectFailed(Exception):
    """No connection was made: the request was never sent."""


class NoAnswer(Exception):
    """The request may have been sent, but no complete answer came back in time."""


@dataclass(slots=True)
class LoopResponse:
    status_code: int
    content: bytes


class _Connection(asyncio.Protocol):
    """One keep-alive connection; at most one exchange at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._parser: httptools.HttpResponseParser | None = None
        self._answer: asyncio.Future | None = None
        self._body: list[bytes] = []
        self._status = 0
        self._framed = False  # Content-Length or chunked: the end is not the connection's end

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self._parser is None:
            self.close()  # bytes nobody asked for: the connection cannot be trusted any more
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(NoAnswer(f"unparseable answer: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._answer is not None and not self._answer.done():
            if self._status and not self._framed:
                self._finish(keep_alive=False)  # an answer delimited by the connection's end
            else:
                self._fail(NoAnswer(f"connection closed before the answer ended ({exc!r})"))

    # httptools callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        lowered = name.lower()
        if lowered == b"content-length" or (
            lowered == b"transfer-encoding" and b"chunked" in value.lower()
        ):
            self._framed = True

    def on_headers_complete(self) -> None:
        self._status = self._parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        self._finish(keep_alive=self._parser.should_keep_alive())

    # exchange

    async def exchange(self, request: bytes, read_timeout: float) -> LoopResponse:
        loop = asyncio.get_running_loop()
        self._answer = loop.create_future()
        self._parser = httptools.HttpResponseParser(self)
        self._body, self._status, self._framed = [], 0, False
        self.transport.write(request)
        try:
            async with asyncio.timeout(read_timeout):
                return await self._answer
        except TimeoutError:
            self.close()
            raise NoAnswer(f"no answer within {read_timeout:g} s") from None

    def _finish(self, *, keep_alive: bool) -> None:
        answer, self._answer, self._parser = self._answer, None, None
        if not keep_alive:
            self.close()
        if answer is not None and not answer.done():
            answer.set_result(LoopResponse(self._status, b"".join(self._body)))

    def _fail(self, exc: Exception) -> None:
        answer, self._answer, self._parser = self._answer, None, None
        self.close()
        if answer is not None and not answer.done():
            answer.set_exception(exc)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class LoopHttpPool:
    """Keep-alive connections to one origin (scheme, host, port), at most `max_connections`."""

    def __init__(
        self,
        base_url: str,
        *,
        ssl_context: ssl.SSLContext | None = None,
        connect_timeout: float = 3.0,
        read_timeout: float = 10.0,
        max_connections: int = 100,
        keepalive_expiry: float = 5.0,
    ):
        url = urlsplit(base_url)
        if url.scheme not in ("http", "https"):
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.host = url.hostname or ""
        self.port = url.port or (443 if url.scheme == "https" else 80)
        self.prefix = url.path.rstrip("/")
        self._ssl = (ssl_context or ssl.create_default_context()) if url.scheme == "https" else None
        default_port = self.port == (443 if self._ssl else 80)
        self._host_header = self.host if default_port else f"{self.host}:{self.port}"
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.keepalive_expiry = keepalive_expiry
        self._slots = asyncio.Semaphore(max_connections)
        self._idle: list[tuple[float, _Connection]] = []  # (idle since, connection)

    async def post(
        self, path: str, body: bytes, headers: dict[str, str] | None = None
    ) -> LoopResponse:
        """POST `body` to prefix + `path`. Raises ConnectFailed (nothing sent) or NoAnswer."""
        head = [
            f"POST {self.prefix}{path} HTTP/1.1",
            f"Host: {self._host_header}",
            f"Content-Length: {len(body)}",
            *(f"{name}: {value}" for name, value in (headers or {}).items()),
        ]
        request = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body
        try:
            async with asyncio.timeout(self.connect_timeout):
                await self._slots.acquire()
        except TimeoutError:
            raise ConnectFailed("no free connection in the pool") from None
        try:
            connection = await self._connection()
            try:
                response = await connection.exchange(request, self.read_timeout)
            except BaseException:
                connection.close()
                raise
            if not connection.closed:
                self._idle.append((time.monotonic(), connection))
            return response
        finally:
            self._slots.release()

    async def _connection(self) -> _Connection:
        # Servers close idle connections after a while, possibly as a request arrives: a request
        # on such a connection has an unknown outcome, so an old one is not reused (as httpx).
        fresh_since = time.monotonic() - self.keepalive_expiry
        while self._idle:
            idle_since, connection = self._idle.pop()
            if not connection.closed and idle_since >= fresh_since:
                return connection
            connection.close()
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.connect_timeout):
                _transport, connection = await loop.create_connection(
                    _Connection,
                    self.host,
                    self.port,
                    ssl=self._ssl,
                    server_hostname=self.host if self._ssl else None,
                )
        except (OSError, TimeoutError) as exc:
            raise ConnectFailed(f"cannot connect to {self.host}:{self.port}: {exc!r}") from exc
        return connection

    def close(self) -> None:
        while self._idle:
            self._idle.pop()[1].close()

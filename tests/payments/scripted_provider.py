"""A real HTTP server that answers with scripted bodies: a hostile or broken provider.

The sandbox plays the honest provider; this one plays what the sandbox must never do (forged,
unsigned, truncated, slow answers), so the client's refusals are tested over real HTTP.
"""

import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from payments.gateway.wechatpay import xmlcodec


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    delay: float = 0.0
    headers: tuple[tuple[str, str], ...] = ()


Script = Callable[[dict[str, str]], Reply]


@contextmanager
def scripted_provider(
    script: Script, *, tls: ssl.SSLContext | None = None
) -> Iterator[tuple[str, list[dict[str, str]]]]:
    """Serve `script` on a free port; yield the base URL and the requests received.

    With `tls`, serve HTTPS and note in each request's "client_cert" whether one was presented.
    """
    received: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            try:
                fields = xmlcodec.decode(body)
            except xmlcodec.XmlError:
                fields = {"raw": body.decode(errors="replace")}
            fields["path"] = self.path
            if tls:
                fields["client_cert"] = "yes" if self.connection.getpeercert() else "no"
            received.append(fields)
            reply = script(fields)
            if reply.delay:
                time.sleep(reply.delay)
            try:
                self.send_response(reply.status)
                for name, value in reply.headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (read timeout): that is the point of a slow reply

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    if tls:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        scheme = "https" if tls else "http"
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()

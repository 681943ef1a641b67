"""The sandbox over real HTTP: the platform's ASGI server with the sandbox mounted, and clients."""

import secrets
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.conf import settings

from payments.gateway import SubMerchant
from payments.gateway.wechatpay.client import WeChatPayClient
from payments.gateway.wechatpay.config import WeChatPayConfig
from payments.gateway.wechatpay.signing import SignType

PAID = "134500000000000001"
USERPAYING_THEN_PAID = "134500000000000002"
USERPAYING_FOREVER = "134500000000000003"
NOTENOUGH = "134500000000000004"
AUTHCODEEXPIRE = "134500000000000005"
SYSTEMERROR_PAID = "134500000000000006"
NO_ANSWER = "134500000000000007"


def sandbox_config(base_url: str, **overrides) -> WeChatPayConfig:
    options = {
        "appid": settings.SANDBOX_WECHATPAY_APPID,
        "mch_id": settings.SANDBOX_WECHATPAY_MCH_ID,
        "api_key": settings.SANDBOX_WECHATPAY_API_KEY,
        "base_url": base_url,
        "sign_type": SignType.HMAC_SHA256,
        # Shorter than the sandbox's no-answer hold, so code …007 times out.
        "read_timeout": 1.5,
        "connect_timeout": 2.0,
        "notify_url": "http://127.0.0.1:9/unused",
    }
    return WeChatPayConfig(**{**options, **overrides})


@pytest.fixture(scope="session")
def sandbox_url(asgi_server) -> str:
    return f"{asgi_server}/sandbox/wechatpay"


@pytest.fixture
def client(sandbox_url) -> Iterator[WeChatPayClient]:
    gateway = WeChatPayClient(sandbox_config(sandbox_url))
    yield gateway
    gateway.close()


@pytest.fixture
def merchant() -> SubMerchant:
    """A fresh sub-merchant per test: its ledger and bills are the test's own."""
    return SubMerchant(sub_mch_id=f"19{secrets.randbelow(10**8):08d}")


def new_number(prefix: str = "T") -> str:
    return prefix + uuid.uuid4().hex[:24]


def fresh_auth_code() -> str:
    return f"13{secrets.randbelow(10**16):016d}"


@dataclass
class NotifyReceiver:
    """The platform's notify_url stand-in: records bodies, answers scripted acknowledgements."""

    url: str
    acks: list[bytes]
    received: list[bytes] = field(default_factory=list)


@pytest.fixture
def notify_receiver() -> Iterator[NotifyReceiver]:
    receiver = NotifyReceiver(url="", acks=[])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            receiver.received.append(body)
            index = len(receiver.received) - 1
            ack = receiver.acks[index] if index < len(receiver.acks) else receiver.acks[-1]
            self.send_response(200)
            self.send_header("Content-Length", str(len(ack)))
            self.end_headers()
            self.wfile.write(ack)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/payments/notify"
    yield receiver
    server.shutdown()
    server.server_close()


@contextmanager
def standalone_sandbox(env: dict[str, str], log_name: str) -> Iterator[str]:
    """`manage.py sandbox_provider` in a process of its own; yields its base URL."""
    import sys

    import httpx

    from tests.conftest import ManagedProcess, free_port, wait_until

    port = free_port()
    process = ManagedProcess(
        [sys.executable, "manage.py", "sandbox_provider", "--addr", f"127.0.0.1:{port}"],
        env,
        f"{log_name}-{port}.log",
    )
    url = f"http://127.0.0.1:{port}"

    def answering() -> bool:
        if not process.alive():
            raise RuntimeError(f"sandbox_provider exited:\n{process.output()}")
        try:
            return httpx.post(f"{url}/pay/orderquery", content=b"", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(answering, what="sandbox_provider to answer")
        yield url
    finally:
        process.stop()

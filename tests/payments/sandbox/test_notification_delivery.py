"""Notification delivery claims each due attempt once: concurrent sweeps never post it twice."""

import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import connections
from django.utils import timezone

from payments.gateway.wechatpay.notifications import ack
from payments.sandbox import notifications
from payments.sandbox.models import NotificationStatus, SandboxNotification, SandboxOrder
from tests.payments.sandbox.conftest import new_number

pytestmark = pytest.mark.django_db(transaction=True)
BAD_ACK = b"<xml><return_code>FAIL</return_code></xml>"


class HeldReceiver:
    """A notify_url that holds every request until released, then answers `answer`."""

    def __init__(self, answer: bytes):
        self.answer = answer
        self.posts = 0
        self.arrived = threading.Event()
        self.release = threading.Event()
        self.url = ""


@pytest.fixture
def receiver() -> Iterator[HeldReceiver]:
    held = HeldReceiver(BAD_ACK)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            held.posts += 1
            held.arrived.set()
            held.release.wait(timeout=10)
            self.send_response(200)
            self.send_header("Content-Length", str(len(held.answer)))
            self.end_headers()
            self.wfile.write(held.answer)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    held.url = f"http://127.0.0.1:{server.server_address[1]}/payments/notify"
    yield held
    held.release.set()
    server.shutdown()
    server.server_close()


def due_notification(notify_url: str) -> SandboxNotification:
    now = timezone.now()
    order = SandboxOrder.objects.create(
        mch_id="10000100", sub_mch_id="1900000109", appid="wxd930ea5d5a258f4f",
        out_trade_no=new_number("N"), transaction_id=f"42{now:%Y%m%d%H%M%S}0000000001",
        trade_type="NATIVE", trade_state="SUCCESS", total_fee=880, body="Demo store-QR",
        openid="oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", notify_url=notify_url, created_at=now,
        paid_at=now,
    )  # fmt: skip
    return SandboxNotification.objects.create(
        order=order, status=NotificationStatus.PENDING, next_attempt_at=now
    )


def in_own_connection(work):
    """Run `work` on a thread's own database connection and close it after, so no session
    outlives the test (the test database could not be dropped at the end)."""

    def run() -> None:
        try:
            work()
        finally:
            connections.close_all()

    return run


def test_a_second_delivery_while_the_first_is_posting_posts_nothing(receiver):
    notice = due_notification(receiver.url)
    results = {}
    first = threading.Thread(
        target=in_own_connection(lambda: results.update(first=notifications.deliver(notice.pk)))
    )
    first.start()
    assert receiver.arrived.wait(timeout=10)
    # The first attempt is on the wire; a sweep (or a duplicated task) delivers the same row.
    assert notifications.deliver(notice.pk) is None
    receiver.release.set()
    first.join(timeout=15)
    assert receiver.posts == 1
    assert results["first"] is not None  # a bad ack: the next attempt is scheduled
    notice.refresh_from_db()
    assert (notice.attempts, notice.status) == (1, NotificationStatus.PENDING)


def test_a_delivery_right_after_a_failed_attempt_waits_for_the_retry_time(receiver, settings):
    """The retry is due only after its delay: a sweep arriving just after must not re-post."""
    settings.SANDBOX_WECHATPAY_NOTIFY_RETRY_MS = [5000, 10000]
    receiver.release.set()
    notice = due_notification(receiver.url)
    assert notifications.deliver(notice.pk) == 5.0
    assert notifications.deliver(notice.pk) is None
    assert receiver.posts == 1
    SandboxNotification.objects.filter(pk=notice.pk).update(
        next_attempt_at=timezone.now() - timedelta(milliseconds=1)
    )
    assert notifications.deliver(notice.pk) is not None
    assert receiver.posts == 2


def test_two_concurrent_sweeps_post_a_due_attempt_once(receiver):
    receiver.answer = ack()
    notice = due_notification(receiver.url)
    start = threading.Barrier(2)
    results = []

    def sweep() -> None:
        start.wait(timeout=10)
        results.append(notifications.deliver(notice.pk))

    threads = [threading.Thread(target=in_own_connection(sweep)) for _ in range(2)]
    for thread in threads:
        thread.start()
    assert receiver.arrived.wait(timeout=10)
    receiver.release.set()
    for thread in threads:
        thread.join(timeout=15)
    assert results == [None, None]  # delivered (no next attempt) and nothing to claim
    assert receiver.posts == 1
    notice.refresh_from_db()
    assert (notice.attempts, notice.status) == (1, NotificationStatus.DELIVERED)


def test_a_claim_lost_to_a_crash_is_due_again_after_its_lease(receiver):
    receiver.release.set()
    notice = due_notification(receiver.url)
    claimed = notifications._claim(notice.pk)  # the worker dies before posting
    assert claimed is not None and claimed.attempts == 1
    assert notifications.deliver(notice.pk) is None
    lease = SandboxNotification.objects.get(pk=notice.pk).next_attempt_at - timezone.now()
    assert timedelta(seconds=5) < lease <= notifications.CLAIM_LEASE
    SandboxNotification.objects.filter(pk=notice.pk).update(next_attempt_at=timezone.now())
    assert notifications.deliver(notice.pk) is not None
    assert receiver.posts == 1

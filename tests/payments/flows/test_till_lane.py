"""The till fast path (payments.till_lane, payments.services.till_micropay) in a real server.

A merchant system's scanned micropay is taken on the event loop and writes what the DRF view
writes; every request the fast path declines gets the view's own answer.
"""

import httpx
import pytest
from django.db import connection
from django.utils import timezone

from payments.models import GatewayCall, IdempotencyKey, Payment
from tenancy.models import ApiKey, AuditEntry
from tenancy.principals import Principal
from tenancy.services.api_keys import api_key_create
from terminals.models import TerminalCommand
from tests.payments import helpers as codes
from tests.payments.helpers import fresh_code, online_terminal

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def till(shop, payments_server):
    """Tenant A's merchant system talking HTTP to the server."""
    key, raw = api_key_create(actor=Principal.system("tests"), merchant=shop.a.merchant, name="t")
    with httpx.Client(base_url=payments_server, timeout=20,
                      headers={"Authorization": f"Api-Key {raw}"}) as client:  # fmt: skip
        client.key = key
        yield client


def pay(client, terminal, code=None, key=None, **extra):
    body = {"terminal": terminal.pk, "amount_fen": 500, "auth_code": code or fresh_code(), **extra}
    headers = {"Idempotency-Key": key} if key else {}
    return client.post("/api/v1/payments/", json=body, headers=headers)


def on_the_fast_path(payment_id: int) -> bool:
    """The fast path writes a payment's creation and submission in one statement (one
    transaction, so one xmin); the view in two."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(DISTINCT xmin::text) FROM tenancy_auditentry WHERE target_id = %s "
            "AND action IN ('payment.create', 'payment.submit')",
            [str(payment_id)],
        )
        return cursor.fetchone()[0] == 1


VOLATILE_HEADERS = {"date", "server", "content-length", "x-request-id"}


def trail(payment_id: int) -> list[tuple]:
    entries = AuditEntry.objects.filter(target_type="payments.payment", target_id=str(payment_id))
    return [
        (e.action, sorted(e.changes), e.actor_kind, e.metadata.get("to"), e.reason)
        for e in entries.order_by("id")
    ]


def test_a_scanned_code_is_paid_on_the_loop_with_the_rows_the_view_writes(shop, till, merchant_api):
    fast = pay(till, shop.a.terminal, key="fast-1")
    assert fast.status_code == 201, fast.text
    assert fast.json()["state"] == "succeeded" and fast.json()["scan_source"] == "till"
    assert on_the_fast_path(fast.json()["id"])
    # The same request in a form only the view takes (a string amount): the same headers.
    by_view = pay(till, online_terminal(shop.a), amount_fen="500")
    assert by_view.status_code == 201 and not on_the_fast_path(by_view.json()["id"])
    assert set(fast.headers) - VOLATILE_HEADERS == set(by_view.headers) - VOLATILE_HEADERS
    for name in set(fast.headers) - VOLATILE_HEADERS:
        assert fast.headers[name] == by_view.headers[name], name

    view = merchant_api.post("/api/v1/payments/", {"terminal": shop.a.terminal.pk,
                             "amount_fen": 500, "auth_code": fresh_code()}, format="json")  # fmt: skip
    assert view.status_code == 201 and view.json()["state"] == "succeeded"
    assert set(fast.json()) == set(view.json())
    fast_row, view_row = (Payment.objects.get(pk=r.json()["id"]) for r in (fast, view))
    assert trail(fast_row.pk) == trail(view_row.pk)
    assert [e.actor_label for e in AuditEntry.objects.filter(
        target_id=str(fast_row.pk), action="payment.create")] == [f"api key {till.key.prefix}"]  # fmt: skip
    for row in (fast_row, view_row):
        assert row.follow_up == "" and row.next_check_at is None and row.transaction_id
        call = GatewayCall.objects.get(out_trade_no=row.out_trade_no)
        assert call.endpoint == "micropay" and call.result_code == "SUCCESS"
        assert call.request_fields["auth_code"][2:-4] == "*" * 12  # masked, never in clear
        result = TerminalCommand.objects.get(terminal=shop.a.terminal, kind="payment_result",
                                             payload__payment_id=str(row.pk))  # fmt: skip
        assert result.payload["status"] == "succeeded" and result.payload["message"] == "Paid"
    claim = IdempotencyKey.objects.get(key="fast-1")
    assert claim.payment_id == fast_row.pk
    assert (claim.response_status, claim.response_body) == (201, fast.json())


def test_the_same_key_replays_and_another_body_is_refused(shop, till):
    code = fresh_code()
    first = pay(till, shop.a.terminal, code=code, key="k-replay")
    again = pay(till, shop.a.terminal, code=code, key="k-replay")
    other = pay(till, shop.a.terminal, key="k-replay")
    assert first.status_code == again.status_code == 201 and on_the_fast_path(first.json()["id"])
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    assert other.status_code == 422
    assert Payment.objects.count() == 1


@pytest.mark.parametrize(("code", "state", "err_code"), [
    (codes.USERPAYING_FOREVER, "paying", "USERPAYING"),
    (codes.NOTENOUGH, "failed", "NOTENOUGH"),
    (codes.SYSTEMERROR_BUT_PAID, "paying", "SYSTEMERROR"),
])  # fmt: skip
def test_other_answers_go_through_the_one_decision_table(shop, till, code, state, err_code):
    response = pay(till, shop.a.terminal, code=code, key=f"k-{code}")
    assert response.status_code == 201, response.text
    assert response.json()["state"] == state and response.json()["err_code"] == err_code
    payment = Payment.objects.get(pk=response.json()["id"])
    assert on_the_fast_path(payment.pk)
    assert GatewayCall.objects.filter(out_trade_no=payment.out_trade_no).count() == 1
    claim = IdempotencyKey.objects.get(key=f"k-{code}")
    assert claim.response_body == response.json()


def test_requests_the_fast_path_declines_get_the_views_answers(shop, till):
    waiting = till.post("/api/v1/payments/", json={"terminal": shop.a.terminal.pk, "amount_fen": 9})
    assert waiting.status_code == 201 and waiting.json()["state"] == "awaiting_scan"
    busy = pay(till, shop.a.terminal, key="k-busy")
    assert busy.status_code == 409 and busy.json()["error"]["code"] == "terminal_busy"
    assert not IdempotencyKey.objects.filter(key="k-busy").exists()  # released for a retry

    foreign = pay(till, shop.b.terminal)
    assert foreign.status_code == 400 and "terminal" in foreign.json()["error"]["fields"]
    unknown = pay(till, shop.a.terminal, tip=5)
    assert unknown.status_code == 400
    body = {"terminal": shop.a.terminal.pk, "amount_fen": 5, "auth_code": fresh_code()}
    form = till.post("/api/v1/payments/", data={k: str(v) for k, v in body.items()})
    assert form.status_code == 415  # the view's parser reads JSON only
    xml_only = till.post("/api/v1/payments/", json=body, headers={"Accept": "application/xml"})
    assert xml_only.status_code == 406
    other_host = till.post("/api/v1/payments/", json=body, headers={"Host": "evil.example"})
    assert other_host.status_code == 400
    bad_key = httpx.post(f"{till.base_url}/api/v1/payments/", json={"terminal": 1},
                         headers={"Authorization": "Api-Key sy_nothing.wrong"})  # fmt: skip
    assert bad_key.status_code == 403
    assert Payment.objects.count() == 1


def test_a_key_not_used_for_a_minute_has_its_use_recorded(shop, till):
    stale = timezone.now() - timezone.timedelta(minutes=5)
    ApiKey.objects.filter(pk=till.key.pk).update(last_used_at=stale)
    response = pay(till, shop.a.terminal)
    assert response.status_code == 201 and response.json()["state"] == "succeeded"
    assert on_the_fast_path(response.json()["id"])
    assert ApiKey.objects.get(pk=till.key.pk).last_used_at > stale
    recent = ApiKey.objects.get(pk=till.key.pk).last_used_at
    assert pay(till, online_terminal(shop.a)).status_code == 201
    assert ApiKey.objects.get(pk=till.key.pk).last_used_at == recent  # once a minute at most


def test_a_cancel_during_the_provider_call_is_not_overwritten(shop, till, monkeypatch):
    """The cashier cancels while micropay is in flight and the customer pays anyway: the paid
    statement finds the payment being cancelled, and the decision table reverses it."""
    import asyncio

    from asgiref.sync import sync_to_async

    from config.loop_db import close_loop_databases
    from payments.services import till_micropay
    from payments.services.payments import payment_cancel
    from payments.services.provider import gateway

    client = gateway()
    real_micropay = client.micropay_on_loop

    async def cancelled_meanwhile(request):
        payment = await Payment.objects.aget(out_trade_no=request.out_trade_no)
        await sync_to_async(payment_cancel)(
            actor=Principal.system("cashier"), payment_id=payment.pk
        )
        return await real_micropay(request)

    monkeypatch.setattr(client, "micropay_on_loop", cancelled_meanwhile)
    raw = till.headers["Authorization"].removeprefix("Api-Key ")
    body = {"terminal": shop.a.terminal.pk, "amount_fen": 700, "auth_code": fresh_code()}

    async def take():
        try:
            return await till_micropay.take(till_micropay.parse(body, raw_key=raw,
                                                                idempotency_key=None))  # fmt: skip
        finally:
            await close_loop_databases()

    taken = asyncio.run(take())
    payment = Payment.objects.get(pk=taken.body["id"])
    assert taken.status == 201 and taken.body["state"] == "paying"
    assert payment.state == "paying" and payment.follow_up == "reverse"
    assert payment.cancel_requested_at is not None
    assert not AuditEntry.objects.filter(target_id=str(payment.pk), action="payment.succeed")
    assert GatewayCall.objects.filter(out_trade_no=payment.out_trade_no).count() == 1


def test_the_fast_read_sees_exactly_the_terminals_the_keys_scope_sees(shop, till):
    """Step 1 is raw SQL: it must agree with tenancy.scoping for every terminal there is."""
    import asyncio

    from config.loop_db import close_loop_databases
    from payments.services import till_micropay
    from tenancy.scoping import scope
    from terminals.models import Terminal

    online_terminal(shop.b)
    principal = Principal.for_api_key(till.key)
    terminals = list(Terminal.objects.values_list("pk", flat=True))
    visible = set(scope(principal, Terminal).values_list("pk", flat=True))
    assert visible and set(terminals) - visible  # both kinds are there

    async def found() -> set[int]:
        try:
            rows = [await till_micropay.read(till.key.prefix, pk) for pk in terminals]
            return {row["terminal_id"] for row in rows if row["terminal_id"] is not None}
        finally:
            await close_loop_databases()

    assert asyncio.run(found()) == visible

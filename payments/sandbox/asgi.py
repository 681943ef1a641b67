"""The sandbox provider as a plain ASGI app: the hot cases on the event loop, the rest in Django.

Served by Django views, a micropay cost ~3–6.5 ms of CPU (request and middleware machinery, the
hop to the sync thread, the ORM), which capped the sandbox near 150–250 calls/s on 2 cores and
left no room for the platform it stands in front of (docs/performance.md, "Payments"). Here a
micropay of a new order that is paid at once, and an orderquery, are one prepared statement on
an async psycopg connection, with the same pure protocol pieces as the Django path
(`envelope.open_request`, `signed_answer`, `failure_answer`, the scenarios, the order builder),
so signatures, error answers, field sets and ledger rows are the same.

Every other path and case (an existing out_trade_no, other scenarios, a code used before,
reverse, refunds, bills, the JSON control endpoints, held answers, a database error) is handed,
with its body, to the Django application behind (`fallback`), so behaviour lives in one place.
"""

import functools

import psycopg
from django.conf import settings
from django.db import connections
from django.utils import timezone

from config.asgi_http import ASGIApp, Receive, Scope, Send, read_body, replay
from config.loop_db import LoopDatabase, PerLoop
from config.model_sql import insert_shape
from payments.sandbox import orders
from payments.sandbox.account import SandboxAccount, account
from payments.sandbox.envelope import (
    BusinessFailure,
    ProtocolFailure,
    Request,
    failure_answer,
    open_request,
    protocol_failure,
    signed_answer,
)
from payments.sandbox.models import SandboxOrder
from payments.sandbox.protocol import check_sub_merchant
from payments.sandbox.scenarios import Scenario, is_test_code, scenario_for
from payments.sandbox.urls import PROVIDER_PATHS

MOUNT_PREFIX = "/sandbox/wechatpay/"
FAST_ENDPOINTS = ("micropay", "orderquery")
_XML = [(b"content-type", b"text/xml; charset=utf-8")]


def fast_routes() -> dict[str, str]:
    """Relative path -> endpoint, for the fast endpoints under both of urls.py's prefixes."""
    routes = {route: name for route, name in PROVIDER_PATHS.items() if name in FAST_ENDPOINTS}
    return {**routes, **{f"sandboxnew/{route}": name for route, name in routes.items()}}


class Fallback(Exception):
    """Hand this request to the Django path (a case the fast path does not serve)."""


# --- The ledger, on the loop ---------------------------------------------------------------------


# A few connections: one would serialise every call behind the previous round trip.
_databases = PerLoop(lambda: LoopDatabase(application_name="shouyin-sandbox", size=4))


def loop_database() -> LoopDatabase:
    return _databases.get()


_ATTNAMES = tuple(f.attname for f in SandboxOrder._meta.concrete_fields)


@functools.cache
def _insert_sql(check_reuse: bool) -> str:
    """Insert a new order unless its number exists (or, for a real-looking code, the code was
    used before); RETURNING nothing means the Django path must answer."""
    shape = insert_shape(SandboxOrder)
    quote = connections["default"].ops.quote_name
    unused = (
        f" WHERE NOT EXISTS (SELECT 1 FROM {shape.table} WHERE {quote('auth_code_digest')} = %s)"  # noqa: S608 - the model's own table
        if check_reuse
        else ""
    )
    target = ", ".join(quote(name) for name in ("mch_id", "sub_mch_id", "out_trade_no"))
    return (
        f"INSERT INTO {shape.table} ({shape.columns}) SELECT {shape.values}{unused} "
        f"ON CONFLICT ({target}) DO NOTHING RETURNING {quote('id')}"
    )


_PLACEHOLDER = "\x00sandbox"


@functools.cache
def _select_sql(by: str) -> tuple[str, tuple, tuple[int, int, int]]:
    """The order as the Django path's `_locked` finds it (without the lock: one autocommit read
    sees one committed state), built by the ORM once; where its three parameters go."""
    query = (
        SandboxOrder.objects.filter(
            mch_id=_PLACEHOLDER + "m", sub_mch_id=_PLACEHOLDER + "s", **{by: _PLACEHOLDER + "n"}
        )
        .order_by("pk")
        .values_list(*_ATTNAMES)[:1]
    )
    sql, params = query.query.sql_with_params()
    at = tuple(params.index(_PLACEHOLDER + suffix) for suffix in "msn")
    return sql, params, at  # type: ignore[return-value]


async def _find_order(request: Request) -> SandboxOrder | None:
    by = "transaction_id" if request.get("transaction_id") else "out_trade_no"
    sql, params, at = _select_sql(by)
    bound = list(params)
    values = (request.get("mch_id"), request.get("sub_mch_id"), request.get(by))
    for index, value in zip(at, values, strict=True):
        bound[index] = value
    row = await loop_database().fetchone(sql, bound)
    return None if row is None else SandboxOrder.from_db("default", _ATTNAMES, tuple(row.values()))


# --- The hot cases -------------------------------------------------------------------------------


async def micropay(request: Request, sandbox: SandboxAccount) -> bytes:
    """A new order whose code pays at once; anything else is the Django path's (Fallback)."""
    request.require("body", "out_trade_no", "total_fee", "spbill_create_ip", "auth_code")
    request.fen("total_fee")
    auth_code = request.get("auth_code")
    if request.get("transaction_id") or scenario_for(auth_code) != Scenario.PAID:
        raise Fallback
    order = orders.new_micropay_order(request, Scenario.PAID, timezone.now())
    check_reuse = not is_test_code(auth_code)
    params = insert_shape(SandboxOrder).params(order)
    if check_reuse:
        params.append(order.auth_code_digest)
    if await loop_database().fetchone(_insert_sql(check_reuse), params) is None:
        # The number exists (a re-sent or conflicting micropay) or the code was used before.
        raise Fallback
    outcome = orders.micropay_answer(order, Scenario.PAID)
    if isinstance(outcome, BusinessFailure):
        return failure_answer(request, sandbox, outcome)
    return signed_answer(request, sandbox, outcome)


async def orderquery(request: Request, sandbox: SandboxAccount) -> bytes:
    if not (request.get("transaction_id") or request.get("out_trade_no")):
        raise Fallback
    order = await _find_order(request)
    if order is None:
        return failure_answer(request, sandbox, orders.order_not_found())
    if orders.confirms_now(order):
        # The customer confirms now: the Django path records it under the row lock.
        raise Fallback
    return signed_answer(request, sandbox, orders.orderquery_fields(order))


HANDLERS = {"micropay": micropay, "orderquery": orderquery}


async def answer(endpoint: str, body: bytes) -> bytes:
    """What protocol.handle answers for a POST to a fast endpoint, or Fallback."""
    sandbox = account()
    try:
        request = open_request("POST", body, sandbox)
    except ProtocolFailure as exc:
        return protocol_failure(str(exc))
    try:
        check_sub_merchant(request, sandbox)
        return await HANDLERS[endpoint](request, sandbox)
    except BusinessFailure as failure:
        return failure_answer(request, sandbox, failure)
    except (psycopg.Error, TimeoutError) as exc:
        # The connection is already dropped; the Django path answers from its own (an insert
        # that did commit is then found and answered as the re-sent micropay it now is).
        raise Fallback from exc


# --- The application -----------------------------------------------------------------------------


class SandboxApp:
    """The provider's paths below `prefix` ("/" standalone, MOUNT_PREFIX in the platform)."""

    def __init__(self, fallback: ASGIApp, *, prefix: str = "/") -> None:
        self.fallback = fallback
        self.prefix = prefix
        self.routes = fast_routes()
        # Django's own limit: a larger body goes to Django, which refuses it as before.
        self.max_body = settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 2_621_440

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = self._fast_endpoint(scope)
        if endpoint is None:
            await self.fallback(scope, receive, send)
            return
        body, complete = await read_body(receive)
        if not complete:
            return  # the caller left before sending its request
        try:
            payload = await answer(endpoint, body)
        except Fallback:
            await self.fallback(scope, replay(body, complete, receive), send)
            return
        headers = [*_XML, (b"content-length", str(len(payload)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    def _fast_endpoint(self, scope: Scope) -> str | None:
        path = scope["path"]
        if scope["type"] != "http" or scope["method"] != "POST" or not path.startswith(self.prefix):
            return None
        endpoint = self.routes.get(path[len(self.prefix) :])
        if endpoint is None:
            return None
        length = dict(scope["headers"]).get(b"content-length", b"")
        # Chunked or over-long bodies are rare: Django reads and bounds them as before.
        if not length.isdigit() or int(length) > self.max_body:
            return None
        return endpoint


def mount(app: ASGIApp, prefix: str = MOUNT_PREFIX) -> ASGIApp:
    """The platform's HTTP app with the fast sandbox in front of `prefix`, where it is enabled."""
    if not settings.SANDBOX_WECHATPAY_ENABLED:
        return app
    return SandboxApp(app, prefix=prefix)

"""A micropay the till scanned itself, taken on the event loop: the common case at full speed.

A merchant system posts a payment whose customer code its own scanner read (docs/api.md). The
general path (payments.api → payment_create → micropay_submit → micropay_apply) runs it in a
thread over the ORM: about 20 statements in five transactions, each waiting for the GIL behind
the event loop (docs/performance.md, "Payments"). Here the same payment is three statements, each
its own transaction, and one provider call, all on the loop:

1. one read: the API key, the terminal with its merchant, enterprise and store, and the new
   payment's id;
2. one write, after the same checks payment_create makes: the payment (already `paying`, with the
   orderquery that micropay_submit makes due), its Idempotency-Key claim, the audit rows of its
   creation and submission, and the API key's use (at most once a minute);
3. the micropay call;
4. for a paid answer, one write: the `succeed` move guarded by the state it expects (`paying`,
   not being cancelled), its audit row, the terminal's `payment_result` command, the stored
   idempotent response, and the call's GatewayCall row.

The rules stay where they are: the rows are built by the same functions the general path uses
(tenancy.statemachine.apply_in_memory, tenancy.audit.audit_entry, command_new, new_claim), and
whatever is not the common case goes to the general path. Before step 2 nothing was written, so
`take()` returns None and the request goes to the DRF view unchanged: a cashier's session, any
field or value the view would question, a foreign or unready or offline terminal, an
Idempotency-Key seen before, a busy terminal (the insert's unique violation). After step 2 the payment exists: any answer but a verified
SUCCESS, or a payment moved meanwhile (a cancel), goes to micropay_apply, the one decision table.
"""

import functools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import psycopg
import redis.asyncio as aioredis
from channels.db import database_sync_to_async
from django.conf import settings
from django.utils import timezone

from config.loop_db import LoopDatabase, PerLoop
from config.model_sql import column_values, insert_shape, insert_sql, set_clause
from payments.gateway.authcode import is_wechat_auth_code, mask_auth_code
from payments.gateway.errors import GatewayError
from payments.gateway.recording import CallRecord, gateway_call_row, record_to_database
from payments.gateway.types import MicropayOutcome, MicropayRequest, MicropayResult
from payments.models import FollowUp, GatewayCall, IdempotencyKey, Payment, PaymentKind
from payments.schedule import micropay_deadline, seconds
from payments.services import events, idempotency
from payments.services.numbers import new_out_trade_no
from payments.services.payments import current_schedule, micropay_apply, result_payload, system
from payments.services.provider import gateway, sub_merchant
from tenancy.audit import audit_entry
from tenancy.models import ApiKey, AuditEntry, Enterprise, Merchant, Store
from tenancy.principals import Principal
from tenancy.services.api_keys import LAST_USED_RESOLUTION, secret_matches, split_raw_key
from tenancy.statemachine import apply_in_memory
from terminals import live, presence
from terminals.models import Terminal, TerminalCommand, TerminalState
from terminals.protocol import validate_command_payload
from terminals.services.commands import command_frame, command_new

logger = logging.getLogger(__name__)

CREATE_FIELDS = frozenset({"terminal", "kind", "amount_fen", "description", "auth_code"})
# What the paid move sets (payment_succeed's plain branch), in the UPDATE's column order.
SUCCEED_COLUMNS = (
    "state", "transaction_id", "paid_at", "finished_at", "trade_state", "err_code",
    "err_message", "follow_up", "next_check_at", "updated_at",
)  # fmt: skip


@dataclass(frozen=True)
class TillMicropay:
    """A create request the fast path can take: checked as PaymentCreateIn would accept it."""

    raw_key: str
    terminal_id: int
    amount_fen: int
    description: str
    auth_code: str
    body: dict  # as parsed, for the Idempotency-Key fingerprint
    idempotency_key: str | None


class PaymentNotStarted(Exception):
    """The create statement failed in a way that leaves its outcome open: the payment was not
    sent to the provider, and the request must not be handed over (it might exist after all)."""


class PaymentWritten(Exception):
    """The fast path failed after the payment was written: it must not be handed over."""

    def __init__(self, payment_id: int):
        super().__init__(f"payment {payment_id}")
        self.payment_id = payment_id


@dataclass(frozen=True)
class Taken:
    status: int
    body: dict
    # What to tell the terminal and the dashboards once the response is sent.
    announce: Callable[[], Awaitable[None]] | None = None


def parse(body: dict, *, raw_key: str, idempotency_key: str | None) -> TillMicropay | None:
    """The request as the fast path takes it, or None when the view should judge it.

    Only plain values pass: an int terminal and amount (not a string or a float the serializer
    would coerce), a valid WeChat code, a description the serializer keeps as sent.
    """
    if not isinstance(body, dict) or not set(body) <= CREATE_FIELDS:
        return None
    terminal, amount, code = body.get("terminal"), body.get("amount_fen"), body.get("auth_code")
    description = body.get("description", "")
    if body.get("kind", PaymentKind.MICROPAY) != PaymentKind.MICROPAY:
        return None
    if not all(type(value) is int for value in (terminal, amount)):
        return None
    if not 0 < amount <= settings.PAYMENTS_MAX_AMOUNT_FEN:
        return None
    if type(code) is not str or not is_wechat_auth_code(code):
        return None
    if type(description) is not str or len(description) > 127 or "\x00" in description:
        return None
    if description != description.strip():
        return None  # the serializer trims it: leave that to the view
    if idempotency_key is not None and not idempotency.KEY_PATTERN.match(idempotency_key):
        return None
    return TillMicropay(
        raw_key=raw_key,
        terminal_id=terminal,
        amount_fen=amount,
        description=description,
        auth_code=code,
        body=body,
        idempotency_key=idempotency_key,
    )


# --- Per event loop ------------------------------------------------------------------------------


class LoopResources:
    """This loop's database connections and Redis client (asyncio objects cannot change loops)."""

    def __init__(self) -> None:
        self.db = LoopDatabase(application_name="shouyin-till-payments", size=4)
        self.redis = aioredis.Redis.from_url(settings.REDIS_URL, decode_responses=True)


_resources = PerLoop(LoopResources)


def resources() -> LoopResources:
    return _resources.get()


# --- SQL -----------------------------------------------------------------------------------------


def _table(model) -> str:
    return model._meta.db_table


@functools.cache
def _read_sql() -> str:
    # Identifiers from model metadata only; every value is a parameter.
    payment_ids = f"pg_get_serial_sequence('{_table(Payment)}', 'id')"
    return f"""
        SELECT k.id AS key_id, k.prefix, k.secret_hash, k.revoked_at, k.expires_at,
               k.last_used_at, k.merchant_id AS key_merchant_id,
               k.enterprise_id AS key_enterprise_id,
               t.id AS terminal_id, t.serial, t.state AS terminal_state,
               t.enterprise_id, t.merchant_id, t.store_id,
               m.name AS merchant_name, m.onboarding_state, m.sub_mch_id,
               e.state AS enterprise_state, s.name AS store_name,
               CASE WHEN t.id IS NOT NULL THEN nextval({payment_ids}) END AS payment_id
        FROM {_table(ApiKey)} k
        LEFT JOIN {_table(Terminal)} t ON t.id = %s AND t.merchant_id = k.merchant_id
        LEFT JOIN {_table(Merchant)} m ON m.id = t.merchant_id
        LEFT JOIN {_table(Enterprise)} e ON e.id = m.enterprise_id
        LEFT JOIN {_table(Store)} s ON s.id = t.store_id
        WHERE k.prefix = %s
    """


@functools.cache
def _create_sql(with_key: bool) -> str:
    parts = [f"p AS ({insert_sql(Payment, with_pk=True)})"]
    if with_key:
        parts.append(f"k AS ({insert_sql(IdempotencyKey)})")
    parts.append(f"a AS ({insert_sql(AuditEntry, rows=2)})")
    # The key's use, as api_key_authenticate records it: at most once a minute, and a conditional
    # UPDATE, so the tills sharing a key do not queue on its row.
    parts.append(
        f"u AS (UPDATE {_table(ApiKey)} SET last_used_at = %s WHERE id = %s "
        "AND (last_used_at IS NULL OR last_used_at < %s))"
    )
    return f"WITH {', '.join(parts)} SELECT 1"


@functools.cache
def _paid_sql(with_key: bool) -> str:
    payments = _table(Payment)
    parts = [
        f"p AS (UPDATE {payments} SET {set_clause(Payment, SUCCEED_COLUMNS)} "
        "WHERE id = %s AND state = 'paying' AND cancel_requested_at IS NULL "
        # Untouched since step 2: a follow-up that claimed it (a slow call) moved this.
        "AND next_check_at = %s RETURNING id)",
        f"a AS ({insert_sql(AuditEntry, source='p')})",
        f"c AS ({insert_sql(TerminalCommand, with_pk=True, source='p')})",
    ]
    if with_key:
        parts.append(
            f"k AS (UPDATE {_table(IdempotencyKey)} SET response_status = %s::smallint, "
            "response_body = %s::jsonb WHERE principal = %s AND key = %s "
            "AND EXISTS (SELECT 1 FROM p))"
        )
    parts.append(f"g AS ({insert_sql(GatewayCall)})")
    return f"WITH {', '.join(parts)} SELECT count(*) AS moved FROM p"


# --- The payment ---------------------------------------------------------------------------------


def _ready(row: dict | None, request: TillMicropay, now: float, live_hash: dict | None) -> bool:
    """The checks of api_key_authenticate and payment_create, on the row read in step 1."""
    if row is None or row["terminal_id"] is None:
        return False
    prefix_secret = split_raw_key(request.raw_key)
    if prefix_secret is None or not secret_matches(row["secret_hash"], prefix_secret[1]):
        return False
    moment = timezone.now()
    if row["revoked_at"] or (row["expires_at"] and row["expires_at"] <= moment):
        return False
    merchant = Merchant(
        onboarding_state=row["onboarding_state"],
        sub_mch_id=row["sub_mch_id"],
        enterprise=Enterprise(state=row["enterprise_state"]),
    )
    if not merchant.can_take_payments or row["terminal_state"] != TerminalState.ACTIVE:
        return False
    return presence.judge(live_hash, now=now).presence == "online"


async def read(key_prefix: str, terminal_id: int) -> dict | None:
    """Step 1: the API key with that prefix and, if the key may see it, the terminal.

    The terminal is joined on the key's merchant: the scope tenancy.scoping gives an API key
    (its merchant's terminals), which tests/payments/flows/test_till_lane.py holds it to.
    """
    return await resources().db.fetchone(_read_sql(), [terminal_id, key_prefix])


async def take(request: TillMicropay) -> Taken | None:
    """Take the payment, or return None (nothing written) for the DRF view to handle it."""
    res = resources()
    prefix_secret = split_raw_key(request.raw_key)
    if prefix_secret is None:
        return None
    row = await read(prefix_secret[0], request.terminal_id)
    live_hash = None
    if row is not None and row["terminal_id"] is not None:
        live_hash = await res.redis.hgetall(presence.presence_key(row["terminal_id"])) or None
    if not _ready(row, request, time.time(), live_hash):
        return None

    actor = Principal.for_api_key(
        ApiKey(
            pk=row["key_id"],
            prefix=row["prefix"],
            merchant_id=row["key_merchant_id"],
            enterprise_id=row["key_enterprise_id"],
        )
    )
    terminal = Terminal(
        pk=row["terminal_id"],
        serial=row["serial"],
        state=row["terminal_state"],
        enterprise_id=row["enterprise_id"],
        merchant_id=row["merchant_id"],
        store_id=row["store_id"],
    )
    payment, created_audit, submit_audit = _new_payment(request, row, actor, terminal)
    claim = None
    if request.idempotency_key is not None:
        claim = idempotency.new_claim(
            actor,
            request.idempotency_key,
            idempotency.fingerprint("POST", "/api/v1/payments/", request.body),
            payment_id=payment.pk,
        )
    params = insert_shape(Payment, with_pk=True).params(payment)
    if claim is not None:
        params += insert_shape(IdempotencyKey).params(claim)
    params += insert_shape(AuditEntry).params(created_audit)
    params += insert_shape(AuditEntry).params(submit_audit)
    params += [payment.created_at, row["key_id"], payment.created_at - LAST_USED_RESOLUTION]
    try:
        await res.db.execute(_create_sql(claim is not None), params)
    except psycopg.errors.IntegrityError:
        # A key seen before, or a terminal busy with another payment: nothing was written, and
        # the view answers (replay, 422, 409).
        return None
    except Exception as exc:
        # A stall or a lost connection: the statement may yet commit. Never hand over now; go
        # on only if the payment is there (else nothing was sent to the provider).
        exists = Payment.objects.filter(pk=payment.pk).exists
        if not await database_sync_to_async(exists)():
            raise PaymentNotStarted from exc
    try:
        return await _pay(res, payment, terminal, actor, request, live_hash)
    except Exception as exc:
        raise PaymentWritten(payment.pk) from exc


async def _pay(
    res: "LoopResources",
    payment: Payment,
    terminal: Terminal,
    actor: Principal,
    request: TillMicropay,
    live_hash: dict | None,
) -> Taken:
    """Steps 3 and 4: the provider call and its answer."""
    result, record = await gateway().micropay_on_loop(
        MicropayRequest(
            merchant=sub_merchant(payment.sub_mch_id),
            out_trade_no=payment.out_trade_no,
            total_fee=payment.amount_fen,
            body=payment.description,
            auth_code=request.auth_code,
            spbill_create_ip=settings.PAYMENTS_CLIENT_IP,
            device_info=terminal.serial,
        )
    )
    if isinstance(result, MicropayResult) and result.outcome == MicropayOutcome.PAID:
        try:
            taken = await _paid(res, payment, terminal, result, record, actor, request, live_hash)
        except Exception:
            # The customer has paid: a database hiccup must not cost the answer. The statement is
            # one transaction: if it committed after all, micropay_apply finds the payment settled
            # and changes nothing; if not, it applies the answer itself.
            logger.warning("payment %s: the paid statement failed; applying it in a thread",
                           payment.pk, exc_info=True)  # fmt: skip
        else:
            if taken is not None:
                return taken
            record = None  # stored with the paid statement, which found the payment moved
    return await database_sync_to_async(_apply_in_thread)(
        payment.pk, result, record, actor, request
    )


def _new_payment(
    request: TillMicropay, row: dict, actor: Principal, terminal: Terminal
) -> tuple[Payment, AuditEntry, AuditEntry]:
    """The payment as payment_create inserts it, then moved by `submit` as micropay_submit does."""
    s = current_schedule()
    now = timezone.now()
    payment = Payment(
        pk=row["payment_id"],
        enterprise_id=row["enterprise_id"],
        merchant_id=row["merchant_id"],
        store_id=row["store_id"],
        terminal_id=terminal.pk,
        kind=PaymentKind.MICROPAY,
        amount_fen=request.amount_fen,
        description=(request.description or f"{row['merchant_name']}-{row['store_name']}")[:127],
        out_trade_no=new_out_trade_no(),
        sub_mch_id=row["sub_mch_id"],
        created_by=actor.label[:150],
        created_at=now,
        updated_at=now,
    )
    created = audit_entry(
        actor=actor, action="payment.create", target=payment,
        changes={"amount_fen": [None, request.amount_fen], "kind": [None, PaymentKind.MICROPAY]},
    )  # fmt: skip
    submitted = apply_in_memory(
        payment, action="submit", actor=actor, reason="payment code from the till",
        fields={"auth_code_masked": mask_auth_code(request.auth_code), "scan_source": "till",
                "scan_ref": "", "submitted_at": now, "deadline_at": micropay_deadline(now, s),
                "follow_up": FollowUp.QUERY, "next_check_at": now + seconds(s.micropay_first_query)},
    )  # fmt: skip
    return payment, created, submitted


async def _paid(
    res: LoopResources,
    payment: Payment,
    terminal: Terminal,
    result: MicropayResult,
    record: CallRecord,
    actor: Principal,
    request: TillMicropay,
    live_hash: dict | None,
) -> Taken | None:
    """Step 4; None if the payment was touched meanwhile (the call's record is stored anyway):
    the general path then applies the answer to the row as it is, audit included."""
    now = timezone.now()
    untouched_check = payment.next_check_at
    audit = apply_in_memory(
        payment, action="succeed", actor=system("micropay answer"),
        reason="micropay answered SUCCESS",
        fields={"transaction_id": result.transaction_id[:32], "paid_at": result.time_end or now,
                "finished_at": now, "trade_state": "SUCCESS", "err_code": "", "err_message": "",
                "follow_up": FollowUp.NONE, "next_check_at": None},
    )  # fmt: skip
    command = command_new(
        terminal=terminal, kind="payment_result",
        payload=validate_command_payload("payment_result", result_payload(payment)),
        actor=system(f"payment {payment.pk}"),
    )  # fmt: skip
    payment.updated_at = now
    body = _payment_out().to_representation(payment)
    params = [*column_values(payment, SUCCEED_COLUMNS), payment.pk, untouched_check]
    params += insert_shape(AuditEntry).params(audit)
    params += insert_shape(TerminalCommand, with_pk=True).params(command)
    if request.idempotency_key is not None:
        params += [
            201,
            psycopg.types.json.Jsonb(body),
            idempotency.principal_key(actor),
            request.idempotency_key,
        ]
    params += insert_shape(GatewayCall).params(gateway_call_row(record))
    moved = await res.db.fetchone(_paid_sql(request.idempotency_key is not None), params)
    if not moved or not moved["moved"]:
        return None

    async def announce() -> None:
        await live.deliver_from_loop(
            live_hash, terminal.pk, command_frame(command), str(command.pk)
        )
        await events.publish_from_loop(
            events.payment_groups(payment), events.payment_message(payment)
        )

    return Taken(201, body, announce)


@functools.cache
def _payment_out():
    """One PaymentOut whose fields are built once: building them is most of a serializer's cost,
    and to_representation() only reads them. The body is the API's (the Idempotency-Key's stored
    response is part of the paid statement), hence the serializer here."""
    from payments.api import PaymentOut

    serializer = PaymentOut()
    serializer.fields  # noqa: B018 - built now, not on the first payment
    return serializer


def _apply_in_thread(
    payment_id: int,
    result: MicropayResult | GatewayError,
    record: CallRecord | None,
    actor: Principal,
    request: TillMicropay,
) -> Taken:
    """An answer the paid statement did not apply (any but a verified SUCCESS, or a payment
    touched meanwhile), by the general path's decision table; the response stored."""
    if record is not None:
        record_to_database(record)
    payment = micropay_apply(payment_id, result)
    outcome = idempotency.Outcome(201, _payment_out().to_representation(payment))
    if request.idempotency_key is not None:
        idempotency.store_outcome(actor, request.idempotency_key, outcome)
    return Taken(outcome.status, outcome.body)

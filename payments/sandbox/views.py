"""HTTP entry points: the provider's paths, the customer's scan, and the bill fault injection."""

import asyncio
import hmac
import json
from datetime import date

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.views.decorators.csrf import csrf_exempt

from payments.sandbox import bills, orders, protocol, refunds
from payments.sandbox.models import AdjustmentKind, SandboxBillAdjustment, SandboxOrder


def provider_endpoint(name: str):
    """An async view for one provider path; a held answer sleeps without holding a thread."""

    @csrf_exempt
    async def view(request: HttpRequest) -> HttpResponse:
        answer = await sync_to_async(protocol.handle)(name, request.method, request.body)
        if answer.hold_seconds:
            await asyncio.sleep(answer.hold_seconds)
        return HttpResponse(answer.body, content_type=answer.content_type)

    view.__name__ = f"sandbox_{name}"
    return view


# --- The customer's side of a native QR -----------------------------------------------------------


def _json_body(request: HttpRequest) -> dict:
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


@csrf_exempt
def scan(request: HttpRequest) -> JsonResponse:
    """Pay a native order as its customer would (by code_url, or sub_mch_id + out_trade_no)."""
    if request.method != "POST":
        return JsonResponse({"error": "POST only"}, status=405)
    body = _json_body(request)
    try:
        order = orders.customer_scans(
            code_url=str(body.get("code_url", "")),
            out_trade_no=str(body.get("out_trade_no", "")),
            sub_mch_id=str(body.get("sub_mch_id", "")),
        )
    except orders.ScanRefused as refused:
        return JsonResponse({"error": str(refused)}, status=refused.status)
    return JsonResponse(
        {
            "out_trade_no": order.out_trade_no,
            "transaction_id": order.transaction_id,
            "trade_state": order.trade_state,
        }
    )


@csrf_exempt
def refund_outcome(request: HttpRequest) -> JsonResponse:
    """Script how a refund ends: SUCCESS, REFUNDCLOSE, or CHANGE (the customer's card bounced)."""
    if request.method != "POST":
        return JsonResponse({"error": "POST only"}, status=405)
    body = _json_body(request)
    outcome = str(body.get("outcome", ""))
    if outcome not in refunds.OUTCOMES:
        return JsonResponse({"error": f"outcome: one of {', '.join(refunds.OUTCOMES)}"}, status=400)
    try:
        refund = refunds.script_outcome(
            out_refund_no=str(body.get("out_refund_no", "")),
            sub_mch_id=str(body.get("sub_mch_id", "")),
            outcome=outcome,
        )
    except refunds.RefundNotFound:
        return JsonResponse({"error": "no such refund"}, status=404)
    return JsonResponse(
        {"out_refund_no": refund.out_refund_no, "outcome": refund.outcome,
         "refund_status": refunds.refund_status(refund)}
    )  # fmt: skip


# --- Admin: inject discrepancies into a day's bill ------------------------------------------------


def _admin_refusal(request: HttpRequest) -> JsonResponse | None:
    """Allow a bearer admin token, or a staff session (with its CSRF check); else 403."""
    token = settings.SANDBOX_WECHATPAY_ADMIN_TOKEN
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if token and given and hmac.compare_digest(given, token):
        return None
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and user.is_staff:
        if request.method in ("GET", "HEAD"):
            return None
        if CsrfViewMiddleware(lambda r: None).process_view(request, None, (), {}) is None:
            return None
    return JsonResponse({"error": "staff session or sandbox admin token required"}, status=403)


def _adjustment_json(adjustment: SandboxBillAdjustment) -> dict:
    return {
        "id": adjustment.pk,
        "bill_date": adjustment.bill_date.isoformat(),
        "sub_mch_id": adjustment.sub_mch_id,
        "kind": adjustment.kind,
        "out_trade_no": adjustment.out_trade_no,
        "amount": adjustment.amount,
    }


def _validated_adjustment(body: dict) -> SandboxBillAdjustment | dict:
    errors: dict[str, str] = {}
    try:
        bill_date = date.fromisoformat(str(body.get("bill_date", "")))
    except ValueError:
        errors["bill_date"] = "YYYY-MM-DD"
        bill_date = None
    kind = body.get("kind")
    if kind not in AdjustmentKind.values:
        errors["kind"] = f"one of {', '.join(AdjustmentKind.values)}"
    sub_mch_id = str(body.get("sub_mch_id", ""))
    if not sub_mch_id:
        errors["sub_mch_id"] = "required"
    amount = body.get("amount")
    needs_amount = kind in (AdjustmentKind.CHANGED_AMOUNT, AdjustmentKind.EXTRA_PAYMENT)
    if needs_amount and not (isinstance(amount, int) and amount > 0):
        errors["amount"] = "a positive amount in fen"
    out_trade_no = str(body.get("out_trade_no", ""))
    if kind == AdjustmentKind.EXTRA_PAYMENT and not out_trade_no:
        out_trade_no = bills.new_out_trade_no()
    elif kind in (AdjustmentKind.MISSING_LINE, AdjustmentKind.CHANGED_AMOUNT) and not errors:
        paid = SandboxOrder.objects.filter(
            sub_mch_id=sub_mch_id, out_trade_no=out_trade_no, paid_at__isnull=False
        )
        if not paid.exists():
            errors["out_trade_no"] = "no paid order with this number for this sub_mch_id"
    if errors:
        return errors
    return SandboxBillAdjustment(
        bill_date=bill_date,
        sub_mch_id=sub_mch_id,
        kind=kind,
        out_trade_no=out_trade_no,
        amount=amount if needs_amount else None,
    )


@csrf_exempt
def bill_adjustments(request: HttpRequest) -> JsonResponse:
    """GET ?bill_date= lists, POST injects, DELETE ?bill_date= clears a day's adjustments."""
    refusal = _admin_refusal(request)
    if refusal:
        return refusal
    if request.method == "POST":
        result = _validated_adjustment(_json_body(request))
        if isinstance(result, dict):
            return JsonResponse({"error": "invalid adjustment", "fields": result}, status=400)
        result.save()
        return JsonResponse(_adjustment_json(result), status=201)
    try:
        day = date.fromisoformat(request.GET.get("bill_date", ""))
    except ValueError:
        return JsonResponse({"error": "bill_date=YYYY-MM-DD is required"}, status=400)
    adjustments = SandboxBillAdjustment.objects.filter(bill_date=day).order_by("pk")
    if request.method == "DELETE":
        deleted, _ = adjustments.delete()
        return JsonResponse({"deleted": deleted})
    if request.method == "GET":
        return JsonResponse({"adjustments": [_adjustment_json(a) for a in adjustments]})
    return JsonResponse({"error": "method not allowed"}, status=405)

"""The merchant-system API for payments and refunds: thin views over payments.services.

Reads are scoped by tenancy.ScopedViewSet (a foreign id is a 404); creates and refunds take an
optional `Idempotency-Key` header (payments.services.idempotency; docs/api.md "Payments").
"""

from dataclasses import asdict

import django_filters
from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response

from payments import business_day, selectors
from payments.models import Payment, PaymentKind, PaymentState, Refund, RefundState
from payments.services import idempotency, payments, refunds
from tenancy.api.serializers import StrictSerializer
from tenancy.scoping import ScopedPrimaryKeyRelatedField, ScopedViewSet
from terminals.models import Terminal

IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key", str, OpenApiParameter.HEADER, required=False,
    description="Same key and body: the first response again. Other body: 422. In flight: 409.",
)  # fmt: skip


class RecentFirst(CursorPagination):
    ordering = "-id"
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 200


# --- Serializers ---------------------------------------------------------------------------------


class PaymentOut(serializers.ModelSerializer):
    refundable_fen = serializers.IntegerField(read_only=True)

    class Meta:
        model = Payment
        fields = [
            "id", "kind", "state", "amount_fen", "description", "out_trade_no",
            "transaction_id", "terminal", "store", "merchant", "auth_code_masked", "scan_source",
            "err_code", "err_message", "code_url", "refunded_fen", "refundable_fen",
            "paid_after_close", "created_at", "submitted_at", "deadline_at", "expires_at", "paid_at", "finished_at",
            "cancel_requested_at",
        ]  # fmt: skip
        read_only_fields = fields


class PaymentCreateIn(StrictSerializer):
    terminal = ScopedPrimaryKeyRelatedField(Terminal)
    kind = serializers.ChoiceField(choices=PaymentKind.choices, default=PaymentKind.MICROPAY)
    amount_fen = serializers.IntegerField(min_value=1)
    description = serializers.CharField(max_length=127, required=False, allow_blank=True)
    # The till's own scanner read the customer's code: pay at once. Never echoed back.
    auth_code = serializers.CharField(max_length=128, required=False, write_only=True)

    def validate_amount_fen(self, value: int) -> int:
        if value > settings.PAYMENTS_MAX_AMOUNT_FEN:
            raise serializers.ValidationError(f"At most {settings.PAYMENTS_MAX_AMOUNT_FEN} fen.")
        return value


class RefundOut(serializers.ModelSerializer):
    class Meta:
        model = Refund
        fields = [
            "id", "payment", "state", "amount_fen", "reason", "out_refund_no", "refund_id",
            "provider_status", "err_code", "err_message", "created_at", "succeeded_at",
        ]  # fmt: skip
        read_only_fields = fields


class SalesTodayIn(StrictSerializer):
    store = serializers.IntegerField(required=False, min_value=1)


class SalesTodayOut(serializers.Serializer):
    business_day = serializers.DateField()
    time_zone = serializers.CharField()
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    payments_count = serializers.IntegerField()
    payments_fen = serializers.IntegerField()
    refunds_count = serializers.IntegerField()
    refunds_fen = serializers.IntegerField()
    net_fen = serializers.IntegerField()


class RefundCreateIn(StrictSerializer):
    amount_fen = serializers.IntegerField(min_value=1)
    reason = serializers.CharField(max_length=80, required=False, allow_blank=True, default="")


# --- Filters -------------------------------------------------------------------------------------


class PaymentFilter(django_filters.FilterSet):
    state = django_filters.MultipleChoiceFilter(choices=PaymentState.choices)
    kind = django_filters.ChoiceFilter(choices=PaymentKind.choices)
    terminal = django_filters.NumberFilter(field_name="terminal_id")
    store = django_filters.NumberFilter(field_name="store_id")
    merchant = django_filters.NumberFilter(field_name="merchant_id")
    out_trade_no = django_filters.CharFilter()
    paid_after_close = django_filters.BooleanFilter()
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Payment
        fields: list[str] = []


class RefundFilter(django_filters.FilterSet):
    state = django_filters.MultipleChoiceFilter(choices=RefundState.choices)
    payment = django_filters.NumberFilter(field_name="payment_id")

    class Meta:
        model = Refund
        fields: list[str] = []


# --- Views ---------------------------------------------------------------------------------------


def _idempotent(view, request, run, resume) -> Response:
    outcome = idempotency.idempotent(
        principal=view.principal,
        key=request.headers.get("Idempotency-Key"),
        method=request.method,
        path=request.path,
        body=request.data,
        run=run,
        resume=resume,
    )
    response = Response(outcome.body, status=outcome.status)
    if outcome.replayed:
        response["Idempotent-Replayed"] = "true"
    return response


class PaymentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """Payments on the principal's terminals: create, read, list, cancel, refund, today's sales.

    A cashier reads only the current business day's payments of its store (the scope's narrowing,
    payments.models.payments_of_today); merchant and enterprise roles the whole history.
    """

    scoped_model = Payment
    serializer_class = PaymentOut
    pagination_class = RecentFirst
    filterset_class = PaymentFilter
    search_fields: list[str] = []
    ordering_fields: list[str] = []

    @extend_schema(request=PaymentCreateIn, responses={201: PaymentOut},
                   parameters=[IDEMPOTENCY_HEADER])  # fmt: skip
    def create(self, request):
        """Take a payment on a terminal (micropay, or native QR with `kind=native`)."""

        def run(key) -> idempotency.Outcome:
            data = PaymentCreateIn(data=request.data, context=self.get_serializer_context())
            data.is_valid(raise_exception=True)
            values = dict(data.validated_data)
            payment = payments.payment_create(
                actor=self.principal, terminal_id=values["terminal"].pk, kind=values["kind"],
                amount_fen=values["amount_fen"], description=values.get("description", ""),
                auth_code=values.get("auth_code"), idempotency_key=key,
            )  # fmt: skip
            return idempotency.Outcome(status.HTTP_201_CREATED, PaymentOut(payment).data)

        def resume(key) -> idempotency.Outcome | None:
            payment = Payment.objects.filter(pk=key.payment_id).first()
            return payment and idempotency.Outcome(
                status.HTTP_201_CREATED, PaymentOut(payment).data
            )

        return _idempotent(self, request, run, resume)

    @extend_schema(
        responses={200: SalesTodayOut},
        parameters=[OpenApiParameter("store", int, description="Only this store's sales.")],
    )
    @action(detail=False, methods=["get"])
    def today(self, request):
        """Today's sales (the Beijing business day): succeeded payments, refunds, net, in fen."""
        data = SalesTodayIn(data=request.query_params)
        data.is_valid(raise_exception=True)
        summary = selectors.sales_today(
            actor=self.principal, store_id=data.validated_data.get("store")
        )
        body = {**asdict(summary), "net_fen": summary.net_fen, "time_zone": business_day.TIME_ZONE}
        return Response(SalesTodayOut(body).data)

    @extend_schema(request=None, responses={200: PaymentOut})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Cancel an unsettled payment (closed at once, or reversed / closed at the provider)."""
        payment = self.get_object()
        payment = payments.payment_cancel(actor=self.principal, payment_id=payment.pk)
        return Response(PaymentOut(payment).data)

    @extend_schema(request=RefundCreateIn, responses={201: RefundOut},
                   parameters=[IDEMPOTENCY_HEADER])  # fmt: skip
    @action(detail=True, methods=["post"], url_path="refunds", url_name="refund")
    def refund(self, request, pk=None):
        """Refund part or all of a succeeded payment."""
        payment = self.get_object()

        def run(key) -> idempotency.Outcome:
            data = RefundCreateIn(data=request.data)
            data.is_valid(raise_exception=True)
            refund = refunds.refund_create(
                actor=self.principal, payment_id=payment.pk, idempotency_key=key,
                amount_fen=data.validated_data["amount_fen"], reason=data.validated_data["reason"],
            )  # fmt: skip
            return idempotency.Outcome(status.HTTP_201_CREATED, RefundOut(refund).data)

        def resume(key) -> idempotency.Outcome | None:
            refund = Refund.objects.filter(pk=key.refund_id).first()
            return refund and idempotency.Outcome(status.HTTP_201_CREATED, RefundOut(refund).data)

        return _idempotent(self, request, run, resume)


class RefundViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """Refunds of the principal's payments."""

    scoped_model = Refund
    serializer_class = RefundOut
    pagination_class = RecentFirst
    filterset_class = RefundFilter
    search_fields: list[str] = []
    ordering_fields: list[str] = []

"""Models of the payments app.

Section "Provider gateway" (GatewayCall, ProviderAccount) belongs to payments/gateway/; the
platform's Payment and Refund models go in their own section below it.
"""

from django.db import models
from django.db.models import F, Q

from config.encryption import EncryptedTextField, mask
from payments.business_day import today_bounds

# --- Provider gateway -----------------------------------------------------------------------------


class SignTypeChoices(models.TextChoices):
    MD5 = "MD5", "MD5"
    HMAC_SHA256 = "HMAC-SHA256", "HMAC-SHA256"


class ProviderAccount(models.Model):
    """A WeChat Pay service-provider account (appid, mch_id, API key, client certificate).

    The API key is encrypted at rest; the certificate stays on disk and is referenced by path.
    """

    name = models.CharField(max_length=64, unique=True)
    appid = models.CharField(max_length=32)
    mch_id = models.CharField(max_length=32, unique=True)
    api_key = EncryptedTextField()
    sign_type = models.CharField(
        max_length=16, choices=SignTypeChoices.choices, default=SignTypeChoices.HMAC_SHA256
    )
    base_url = models.URLField(default="https://api.mch.weixin.qq.com")
    cert_path = models.CharField(max_length=512, blank=True)
    key_path = models.CharField(max_length=512, blank=True)
    notify_url = models.URLField(blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name} (mch_id {self.mch_id}, key {mask(self.api_key)})"


class GatewayCall(models.Model):
    """One call to the provider, recorded with secrets and payment codes redacted."""

    endpoint = models.CharField(max_length=64)
    mch_id = models.CharField(max_length=32, blank=True)
    sub_mch_id = models.CharField(max_length=32, blank=True)
    out_trade_no = models.CharField(max_length=32, blank=True)
    out_refund_no = models.CharField(max_length=64, blank=True)
    http_status = models.PositiveSmallIntegerField(null=True)
    return_code = models.CharField(max_length=16, blank=True)
    result_code = models.CharField(max_length=16, blank=True)
    err_code = models.CharField(max_length=64, blank=True)
    # Empty when the answer was valid; else the GatewayError class (e.g. "SignatureInvalid").
    error = models.CharField(max_length=64, blank=True)
    latency_ms = models.PositiveIntegerField()
    request_fields = models.JSONField(default=dict)
    response_fields = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["out_trade_no"]), models.Index(fields=["out_refund_no"])]

    def __str__(self) -> str:
        return f"{self.endpoint} {self.out_trade_no or self.out_refund_no} {self.err_code}"


# --- Payments and refunds (the platform side) ------------------------------------------------------
# State changes only through payments.statemachine (tenancy's move(): row lock + audit row).


class PaymentKind(models.TextChoices):
    MICROPAY = "micropay", "Micropay (cashier scans the customer's code)"
    NATIVE = "native", "Native QR (customer scans)"


class PaymentState(models.TextChoices):
    CREATED = "created", "Created"
    AWAITING_SCAN = "awaiting_scan", "Awaiting scan"
    PAYING = "paying", "Paying (sent; outcome unknown)"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CLOSED = "closed", "Closed"
    REVERSED = "reversed", "Reversed"


# The terminal's customer screen is taken while a payment is in one of these states.
OPEN_PAYMENT_STATES = ("created", "awaiting_scan", "paying")
FINAL_PAYMENT_STATES = ("succeeded", "failed", "closed", "reversed")


def payments_of_today() -> Q:
    """What a store-level principal (a cashier) sees of its store's payments: today's business.

    Created, paid or settled on the current business day (payments.business_day), or still
    open (one started before midnight must stay visible, and cancellable, until it settles, and
    its outcome must be readable when it settles after midnight).
    """
    start, _end = today_bounds()
    return (
        Q(created_at__gte=start)
        | Q(paid_at__gte=start)
        | Q(finished_at__gte=start)
        | Q(state__in=OPEN_PAYMENT_STATES)
    )


def refunds_of_today() -> Q:
    """What a store-level principal sees of its store's refunds: those requested today."""
    start, _end = today_bounds()
    return Q(created_at__gte=start)


class FollowUp(models.TextChoices):
    """What the platform still owes the provider for a row, due at `next_check_at`."""

    NONE = "", "Nothing"
    EXPIRE_PROMPT = "expire_prompt", "Close an unanswered prompt"
    QUERY = "query", "Query the order"
    REVERSE = "reverse", "Reverse the order"
    CLOSE = "close", "Close the order"
    SUBMIT_REFUND = "submit_refund", "Send the refund (again, same number)"
    QUERY_REFUND = "query_refund", "Query the refund"


class Payment(models.Model):
    """One payment attempt on a terminal: one out_trade_no, never reused.

    The row is the durable record of the follow-up the provider still needs (`follow_up`,
    `next_check_at`): tasks sent after commit are the fast path, the dispatcher claims what is due.
    """

    scope_fields = {"enterprise": "enterprise_id", "merchant": "merchant_id", "store": "store_id"}
    # DESIGN.md: a cashier sees "today's sales"; merchant and enterprise roles the whole history.
    scope_narrowing = {"store": payments_of_today}

    enterprise = models.ForeignKey(
        "tenancy.Enterprise", on_delete=models.PROTECT, related_name="+", editable=False
    )
    merchant = models.ForeignKey(
        "tenancy.Merchant", on_delete=models.PROTECT, related_name="payments", editable=False
    )
    store = models.ForeignKey(
        "tenancy.Store", on_delete=models.PROTECT, related_name="payments", editable=False
    )
    terminal = models.ForeignKey(
        "terminals.Terminal", on_delete=models.PROTECT, related_name="payments", editable=False
    )
    kind = models.CharField(max_length=10, choices=PaymentKind.choices, editable=False)
    state = models.CharField(
        max_length=16,
        choices=PaymentState.choices,
        default=PaymentState.CREATED,
        editable=False,
        db_index=True,
    )
    amount_fen = models.PositiveBigIntegerField(editable=False)
    description = models.CharField(max_length=127, editable=False)
    out_trade_no = models.CharField(max_length=32, unique=True, editable=False)
    sub_mch_id = models.CharField(max_length=32, editable=False)
    transaction_id = models.CharField(max_length=32, blank=True, editable=False)
    # The customer's payment code is never stored: only this masked form (first 2, last 4).
    auth_code_masked = models.CharField(max_length=32, blank=True, editable=False)
    scan_source = models.CharField(max_length=8, blank=True, editable=False)  # "till" | "terminal"
    scan_ref = models.CharField(max_length=64, blank=True, editable=False)
    trade_state = models.CharField(max_length=16, blank=True, editable=False)
    err_code = models.CharField(max_length=64, blank=True, editable=False)
    err_message = models.CharField(max_length=200, blank=True, editable=False)
    code_url = models.CharField(max_length=256, blank=True, editable=False)
    refund_reserved_fen = models.PositiveBigIntegerField(default=0, editable=False)
    refunded_fen = models.PositiveBigIntegerField(default=0, editable=False)
    # The provider took the money after the payment was failed, closed or reversed here; the
    # platform refunded it in full (payments.services.payments.payment_succeed).
    paid_after_close = models.BooleanField(default=False, editable=False)
    created_by = models.CharField(max_length=150, editable=False)
    submitted_at = models.DateTimeField(null=True, blank=True, editable=False)
    deadline_at = models.DateTimeField(null=True, blank=True, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    paid_at = models.DateTimeField(null=True, blank=True, editable=False)
    finished_at = models.DateTimeField(null=True, blank=True, editable=False)
    cancel_requested_at = models.DateTimeField(null=True, blank=True, editable=False)
    follow_up = models.CharField(
        max_length=16, choices=FollowUp.choices, default=FollowUp.NONE, blank=True, editable=False
    )
    next_check_at = models.DateTimeField(null=True, blank=True, editable=False)
    dispatched_at = models.DateTimeField(null=True, blank=True, editable=False)
    follow_up_attempts = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            # The dispatcher's claim: due rows only, by due time.
            models.Index(
                fields=["next_check_at"],
                condition=~Q(follow_up=""),
                name="payment_follow_up_due",
            ),
            models.Index(fields=["merchant", "-id"], name="payment_merchant_recent"),
            models.Index(fields=["store", "-id"], name="payment_store_recent"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount_fen__gt=0), name="payment_amount_positive"),
            models.CheckConstraint(
                condition=Q(refund_reserved_fen__lte=F("amount_fen"))
                & Q(refunded_fen__lte=F("refund_reserved_fen")),
                name="payment_refunds_within_amount",
            ),
            models.CheckConstraint(
                condition=Q(follow_up="") | Q(next_check_at__isnull=False),
                name="payment_follow_up_has_due_time",
            ),
            # One open payment per terminal: its customer screen shows one prompt at a time.
            models.UniqueConstraint(
                fields=["terminal"],
                condition=Q(state__in=OPEN_PAYMENT_STATES),
                name="payment_one_open_per_terminal",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.out_trade_no} {self.amount_fen} fen {self.state}"

    @property
    def refundable_fen(self) -> int:
        return self.amount_fen - self.refund_reserved_fen


class RefundState(models.TextChoices):
    CREATED = "created", "Created (not yet accepted by the provider)"
    PROCESSING = "processing", "Processing"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    # refundquery answered CHANGE: the refund bounced off a frozen or void card; the money is
    # neither back with the customer nor with the merchant until someone handles it by hand on
    # the provider's merchant platform.
    NEEDS_MANUAL = "needs_manual", "Needs manual handling (bounced: CHANGE)"


class Refund(models.Model):
    """A partial or full refund of a succeeded payment; one out_refund_no, retried unchanged."""

    scope_fields = {"enterprise": "enterprise_id", "merchant": "merchant_id", "store": "store_id"}
    scope_narrowing = {"store": refunds_of_today}

    enterprise = models.ForeignKey(
        "tenancy.Enterprise", on_delete=models.PROTECT, related_name="+", editable=False
    )
    merchant = models.ForeignKey(
        "tenancy.Merchant", on_delete=models.PROTECT, related_name="+", editable=False
    )
    store = models.ForeignKey(
        "tenancy.Store", on_delete=models.PROTECT, related_name="+", editable=False
    )
    payment = models.ForeignKey(
        Payment, on_delete=models.PROTECT, related_name="refunds", editable=False
    )
    state = models.CharField(
        max_length=12,
        choices=RefundState.choices,
        default=RefundState.CREATED,
        editable=False,
        db_index=True,
    )
    amount_fen = models.PositiveBigIntegerField(editable=False)
    reason = models.CharField(max_length=80, blank=True, editable=False)
    out_refund_no = models.CharField(max_length=64, unique=True, editable=False)
    refund_id = models.CharField(max_length=32, blank=True, editable=False)
    provider_status = models.CharField(max_length=16, blank=True, editable=False)
    err_code = models.CharField(max_length=64, blank=True, editable=False)
    err_message = models.CharField(max_length=200, blank=True, editable=False)
    created_by = models.CharField(max_length=150, editable=False)
    succeeded_at = models.DateTimeField(null=True, blank=True, editable=False)
    follow_up = models.CharField(
        max_length=16, choices=FollowUp.choices, default=FollowUp.NONE, blank=True, editable=False
    )
    next_check_at = models.DateTimeField(null=True, blank=True, editable=False)
    dispatched_at = models.DateTimeField(null=True, blank=True, editable=False)
    follow_up_attempts = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(
                fields=["next_check_at"], condition=~Q(follow_up=""), name="refund_follow_up_due"
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount_fen__gt=0), name="refund_amount_positive"),
            models.CheckConstraint(
                condition=Q(follow_up="") | Q(next_check_at__isnull=False),
                name="refund_follow_up_has_due_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.out_refund_no} {self.amount_fen} fen {self.state}"


class IdempotencyKey(models.Model):
    """A merchant system's Idempotency-Key: the first request's fingerprint and its response.

    Keyed by (principal, key); the principal (an API key or a user) belongs to one tenant.
    """

    enterprise = models.ForeignKey(
        "tenancy.Enterprise", null=True, on_delete=models.CASCADE, related_name="+"
    )
    principal = models.CharField(max_length=64)
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)
    payment = models.ForeignKey(Payment, null=True, on_delete=models.SET_NULL, related_name="+")
    refund = models.ForeignKey(Refund, null=True, on_delete=models.SET_NULL, related_name="+")
    response_status = models.PositiveSmallIntegerField(null=True)
    response_body = models.JSONField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)
    locked_until = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["principal", "key"], name="idempotency_key_unique")
        ]

    def __str__(self) -> str:
        return f"{self.principal} {self.key}"


class ProviderNotification(models.Model):
    """A verified payment notification, stored once per (payment, transaction id)."""

    payment = models.ForeignKey(Payment, on_delete=models.CASCADE, related_name="notifications")
    transaction_id = models.CharField(max_length=32)
    total_fee = models.PositiveBigIntegerField()
    received_at = models.DateTimeField(auto_now_add=True)
    applied = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["payment", "transaction_id"], name="notification_once_per_transaction"
            )
        ]

    def __str__(self) -> str:
        return f"{self.transaction_id} for payment {self.payment_id}"

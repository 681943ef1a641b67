"""The sandbox provider's own ledger: what a provider would know, nothing of the platform's."""

from django.db import models


class TradeType(models.TextChoices):
    MICROPAY = "MICROPAY"
    NATIVE = "NATIVE"


class SandboxOrder(models.Model):
    mch_id = models.CharField(max_length=32)
    sub_mch_id = models.CharField(max_length=32)
    appid = models.CharField(max_length=32)
    sub_appid = models.CharField(max_length=32, blank=True)
    out_trade_no = models.CharField(max_length=32)
    transaction_id = models.CharField(max_length=32, blank=True)
    trade_type = models.CharField(max_length=16, choices=TradeType.choices)
    trade_state = models.CharField(max_length=16)
    trade_state_desc = models.CharField(max_length=64, blank=True)
    total_fee = models.PositiveIntegerField()
    body = models.CharField(max_length=128)
    attach = models.CharField(max_length=127, blank=True)
    device_info = models.CharField(max_length=32, blank=True)
    # The payment code is kept masked, plus a digest to refuse its reuse (codes are single-use).
    auth_code_masked = models.CharField(max_length=32, blank=True)
    auth_code_digest = models.CharField(max_length=64, blank=True, db_index=True)
    scenario = models.CharField(max_length=32, blank=True)
    err_code = models.CharField(max_length=32, blank=True)
    openid = models.CharField(max_length=64, blank=True)
    sign_type = models.CharField(max_length=16, default="MD5")
    notify_url = models.CharField(max_length=256, blank=True)
    product_id = models.CharField(max_length=32, blank=True)
    prepay_id = models.CharField(max_length=64, blank=True)
    code_url = models.CharField(max_length=128, blank=True, db_index=True)
    time_expire = models.DateTimeField(null=True)
    created_at = models.DateTimeField()
    paid_at = models.DateTimeField(null=True)
    # USERPAYING orders the customer will confirm: paid when this time has passed.
    pay_due_at = models.DateTimeField(null=True)
    revoked_at = models.DateTimeField(null=True)
    closed_at = models.DateTimeField(null=True)
    reverse_calls = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["mch_id", "sub_mch_id", "out_trade_no"], name="sandbox_order_number"
            )
        ]

    def __str__(self) -> str:
        return f"{self.sub_mch_id}/{self.out_trade_no} {self.trade_state}"


class SandboxRefund(models.Model):
    order = models.ForeignKey(SandboxOrder, on_delete=models.CASCADE, related_name="refunds")
    out_refund_no = models.CharField(max_length=64)
    refund_id = models.CharField(max_length=32, unique=True)
    refund_fee = models.PositiveIntegerField()
    created_at = models.DateTimeField()
    # PROCESSING until this time, `outcome` after it.
    success_at = models.DateTimeField()
    # SUCCESS, or what control/refund-outcome scripted: REFUNDCLOSE, or CHANGE (bounced card).
    outcome = models.CharField(max_length=16, default="SUCCESS")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["order", "out_refund_no"], name="sandbox_refund_number")
        ]

    def __str__(self) -> str:
        return f"{self.out_refund_no} {self.refund_fee}"


class NotificationStatus(models.TextChoices):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class SandboxNotification(models.Model):
    """The payment notification of one native order, with its delivery attempts."""

    order = models.OneToOneField(
        SandboxOrder, on_delete=models.CASCADE, related_name="notification"
    )
    status = models.CharField(
        max_length=16, choices=NotificationStatus.choices, default=NotificationStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(db_index=True)
    last_response = models.CharField(max_length=200, blank=True)
    delivered_at = models.DateTimeField(null=True)

    def __str__(self) -> str:
        return f"notification {self.order_id} {self.status}"


class AdjustmentKind(models.TextChoices):
    MISSING_LINE = "missing_line"
    CHANGED_AMOUNT = "changed_amount"
    EXTRA_PAYMENT = "extra_payment"


class SandboxBillAdjustment(models.Model):
    """A discrepancy injected into a day's bill for reconciliation tests."""

    bill_date = models.DateField()
    sub_mch_id = models.CharField(max_length=32)
    kind = models.CharField(max_length=24, choices=AdjustmentKind.choices)
    out_trade_no = models.CharField(max_length=32)
    amount = models.PositiveIntegerField(null=True)  # fen: the changed or the extra amount
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.bill_date} {self.kind} {self.out_trade_no}"

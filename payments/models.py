"""Models of the payments app.

Section "Provider gateway" (GatewayCall, ProviderAccount) belongs to payments/gateway/; the
platform's Payment and Refund models go in their own section below it.
"""

from django.db import models

from config.encryption import EncryptedTextField, mask

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

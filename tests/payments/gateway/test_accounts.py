"""Provider credentials: encrypted at rest, and clients built from settings or a stored account."""

import uuid

import pytest
from django.conf import settings
from django.db import connection
from django.test import override_settings

from payments.gateway import (
    BillType,
    ImproperlyConfiguredGateway,
    MicropayOutcome,
    MicropayRequest,
    SubMerchant,
    client_for_account,
)
from payments.gateway.wechatpay.config import config_from_settings
from payments.gateway.wechatpay.signing import SignType
from payments.models import GatewayCall, ProviderAccount
from payments.sandbox.bills import today

pytestmark = pytest.mark.django_db


def sandbox_account(base_url: str) -> ProviderAccount:
    return ProviderAccount.objects.create(
        name="sandbox",
        appid=settings.SANDBOX_WECHATPAY_APPID,
        mch_id=settings.SANDBOX_WECHATPAY_MCH_ID,
        api_key=settings.SANDBOX_WECHATPAY_API_KEY,
        sign_type="MD5",
        base_url=base_url,
    )


def test_the_api_key_is_encrypted_at_rest():
    account = sandbox_account("http://127.0.0.1:9")
    with connection.cursor() as cursor:
        cursor.execute("SELECT api_key FROM payments_provideraccount WHERE id = %s", [account.pk])
        stored = cursor.fetchone()[0]
    assert settings.SANDBOX_WECHATPAY_API_KEY not in stored
    assert ProviderAccount.objects.get().api_key == settings.SANDBOX_WECHATPAY_API_KEY
    assert settings.SANDBOX_WECHATPAY_API_KEY not in str(account)


@pytest.mark.slow
def test_a_stored_account_pays_through_the_sandbox(asgi_server):
    account = sandbox_account(f"{asgi_server}/sandbox/wechatpay")
    client = client_for_account(account)
    merchant = SubMerchant(sub_mch_id="1900000111")
    result = client.micropay(
        MicropayRequest(
            merchant=merchant,
            out_trade_no="ACC" + uuid.uuid4().hex[:20],
            total_fee=5,
            body="Account-Test",
            auth_code="134500000000000001",
            spbill_create_ip="10.0.0.1",
        )
    )
    assert result.outcome == MicropayOutcome.PAID
    client.download_bill(bill_date=today(), bill_type=BillType.SUCCESS, merchant=merchant)
    calls = list(GatewayCall.objects.order_by("pk").values_list("endpoint", "return_code"))
    assert calls == [("micropay", "SUCCESS"), ("downloadbill", "SUCCESS")]


@override_settings(
    WECHATPAY_API_KEY="k" * 32,
    WECHATPAY_SIGN_TYPE="MD5",
    WECHATPAY_CONNECT_TIMEOUT_MS=1500,
    WECHATPAY_READ_TIMEOUT_MS=8000,
)
def test_the_platform_client_is_configured_from_settings():
    config = config_from_settings()
    assert (config.sign_type, config.connect_timeout, config.read_timeout) == (
        SignType.MD5,
        1.5,
        8.0,
    )
    assert "k" * 32 not in repr(config)


@override_settings(WECHATPAY_API_KEY="")
def test_a_missing_api_key_is_a_configuration_error():
    with pytest.raises(ImproperlyConfiguredGateway, match="api_key"):
        config_from_settings()

"""The platform's provider gateway: one pooled WeChat Pay client per process and configuration."""

from functools import cache

from django.conf import settings

from payments.gateway.types import SubMerchant
from payments.gateway.wechatpay.client import WeChatPayClient
from payments.gateway.wechatpay.config import WeChatPayConfig, config_from_settings


@cache
def _client(config: WeChatPayConfig) -> WeChatPayClient:
    return WeChatPayClient(config)


def gateway() -> WeChatPayClient:
    """Return the pooled client for the current WECHATPAY_* settings (tests point it elsewhere)."""
    config = config_from_settings()
    if settings.PAYMENTS_NOTIFY_URL and not config.notify_url:
        config = WeChatPayConfig(**{**_fields(config), "notify_url": settings.PAYMENTS_NOTIFY_URL})
    return _client(config)


def _fields(config: WeChatPayConfig) -> dict:
    return {name: getattr(config, name) for name in config.__dataclass_fields__}


def sub_merchant(sub_mch_id: str) -> SubMerchant:
    return SubMerchant(sub_mch_id=sub_mch_id)

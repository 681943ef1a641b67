"""Connection settings of one service-provider account."""

from dataclasses import dataclass, field

from payments.gateway.errors import ImproperlyConfiguredGateway
from payments.gateway.wechatpay.signing import SignType

PRODUCTION_BASE_URL = "https://api.mch.weixin.qq.com"


@dataclass(frozen=True, slots=True, kw_only=True)
class WeChatPayConfig:
    appid: str
    mch_id: str
    api_key: str = field(repr=False)
    base_url: str = PRODUCTION_BASE_URL
    sign_type: SignType = SignType.HMAC_SHA256
    # Client certificate for /secapi/ (PEM pair); the service provider's serves all sub-merchants.
    cert_path: str | None = None
    key_path: str | None = None
    # CA bundle to verify the provider's server certificate; None: the system's (certifi).
    ca_bundle: str | None = None
    connect_timeout: float = 3.0
    read_timeout: float = 10.0
    notify_url: str = ""
    max_connections: int = 100

    def __post_init__(self) -> None:
        missing = [n for n in ("appid", "mch_id", "api_key", "base_url") if not getattr(self, n)]
        if missing:
            raise ImproperlyConfiguredGateway(f"WeChat Pay account lacks {', '.join(missing)}")
        if bool(self.cert_path) != bool(self.key_path):
            raise ImproperlyConfiguredGateway("set both the client certificate and its key")


def config_from_settings() -> WeChatPayConfig:
    """Build the platform's service-provider account from settings (WECHATPAY_*)."""
    from django.conf import settings

    return WeChatPayConfig(
        appid=settings.WECHATPAY_APPID,
        mch_id=settings.WECHATPAY_MCH_ID,
        api_key=settings.WECHATPAY_API_KEY,
        base_url=settings.WECHATPAY_BASE_URL,
        sign_type=SignType(settings.WECHATPAY_SIGN_TYPE),
        cert_path=settings.WECHATPAY_CERT_PATH or None,
        key_path=settings.WECHATPAY_KEY_PATH or None,
        ca_bundle=settings.WECHATPAY_CA_BUNDLE or None,
        connect_timeout=settings.WECHATPAY_CONNECT_TIMEOUT_MS / 1000,
        read_timeout=settings.WECHATPAY_READ_TIMEOUT_MS / 1000,
        notify_url=settings.WECHATPAY_NOTIFY_URL,
    )

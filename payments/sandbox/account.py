"""The sandbox's dev account and timings, read from settings at call time."""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings


@dataclass(frozen=True, slots=True)
class SandboxAccount:
    appid: str
    mch_id: str
    api_key: str
    sub_mch_ids: tuple[str, ...]
    strict_sub_mch: bool

    def accepts_sub_mch(self, sub_mch_id: str) -> bool:
        return not self.strict_sub_mch or sub_mch_id in self.sub_mch_ids


def account() -> SandboxAccount:
    return SandboxAccount(
        appid=settings.SANDBOX_WECHATPAY_APPID,
        mch_id=settings.SANDBOX_WECHATPAY_MCH_ID,
        api_key=settings.SANDBOX_WECHATPAY_API_KEY,
        sub_mch_ids=tuple(settings.SANDBOX_WECHATPAY_SUB_MCH_IDS),
        strict_sub_mch=settings.SANDBOX_WECHATPAY_STRICT_SUB_MCH,
    )


def userpaying_delay() -> timedelta:
    return timedelta(milliseconds=settings.SANDBOX_WECHATPAY_USERPAYING_MS)


def no_answer_hold_seconds() -> float:
    return settings.SANDBOX_WECHATPAY_NO_ANSWER_MS / 1000


def refund_delay() -> timedelta:
    return timedelta(milliseconds=settings.SANDBOX_WECHATPAY_REFUND_MS)


def notify_retry_delays() -> list[float]:
    return [ms / 1000 for ms in settings.SANDBOX_WECHATPAY_NOTIFY_RETRY_MS]

"""Customer payment codes: recognise WeChat codes, and never show one in clear."""

import re

# 18 digits starting 10–15 (reference §4.1); Alipay codes start 25–30 and are not ours.
WECHAT_AUTH_CODE = re.compile(r"^1[0-5]\d{16}$")


def is_wechat_auth_code(value: str) -> bool:
    return bool(WECHAT_AUTH_CODE.match(value))


def mask_auth_code(value: str | None) -> str:
    """Keep the first 2 and last 4 digits: enough to tell codes apart, useless to pay with."""
    if not value:
        return ""
    if len(value) <= 6:
        return "*" * len(value)
    return value[:2] + "*" * (len(value) - 6) + value[-4:]

"""Provider-side identifiers in the provider's shapes."""

import hashlib
import secrets
import string
from datetime import datetime

from payments.gateway.wechatpay.timefmt import BEIJING


def _day(moment: datetime) -> str:
    return moment.astimezone(BEIJING).strftime("%Y%m%d")


def transaction_id(moment: datetime) -> str:
    return f"4200{_day(moment)}{secrets.randbelow(10**16):016d}"  # 28 digits


def refund_id(moment: datetime) -> str:
    return f"5030{_day(moment)}{secrets.randbelow(10**17):017d}"  # 29 digits


def prepay_id(moment: datetime) -> str:
    return f"wx{moment.astimezone(BEIJING):%Y%m%d%H%M%S}{secrets.token_hex(9)}"


def code_url() -> str:
    alphabet = string.ascii_letters + string.digits
    return "weixin://wxpay/bizpayurl?pr=" + "".join(secrets.choice(alphabet) for _ in range(7))


def digest(auth_code: str) -> str:
    return hashlib.sha256(f"sandbox-auth-code:{auth_code}".encode()).hexdigest()


def openid_for(seed: str) -> str:
    """A stable openid per payer (the payment code's digest, or the order for QR payers)."""
    return "oSbx" + hashlib.sha256(seed.encode()).hexdigest()[:24]

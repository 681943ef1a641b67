"""Test payment codes: the last digits of a real-format code choose the sandbox's behaviour."""

from enum import StrEnum

from payments.gateway.authcode import is_wechat_auth_code


class Scenario(StrEnum):
    PAID = "paid"
    USERPAYING_THEN_PAID = "userpaying_then_paid"
    USERPAYING_FOREVER = "userpaying_forever"
    NOTENOUGH = "notenough"
    AUTHCODEEXPIRE = "authcodeexpire"
    SYSTEMERROR_PAID = "systemerror_paid"
    NO_ANSWER = "no_answer"
    INVALID = "invalid"


# Documented in docs/sandbox.md; any other valid code is paid at once.
TEST_CODES: dict[str, Scenario] = {
    "134500000000000001": Scenario.PAID,
    "134500000000000002": Scenario.USERPAYING_THEN_PAID,
    "134500000000000003": Scenario.USERPAYING_FOREVER,
    "134500000000000004": Scenario.NOTENOUGH,
    "134500000000000005": Scenario.AUTHCODEEXPIRE,
    "134500000000000006": Scenario.SYSTEMERROR_PAID,
    "134500000000000007": Scenario.NO_ANSWER,
}


def scenario_for(auth_code: str) -> Scenario:
    if auth_code in TEST_CODES:
        return TEST_CODES[auth_code]
    return Scenario.PAID if is_wechat_auth_code(auth_code) else Scenario.INVALID


def is_test_code(auth_code: str) -> bool:
    """The documented codes may be used again and again; real-looking codes only once."""
    return auth_code in TEST_CODES

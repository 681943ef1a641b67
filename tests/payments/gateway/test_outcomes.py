"""The micropay decision table: unknown codes are never a failure."""

import pytest

from payments.gateway import MicropayOutcome
from payments.gateway.authcode import is_wechat_auth_code, mask_auth_code
from payments.gateway.wechatpay.outcomes import micropay_outcome


@pytest.mark.parametrize(
    ("err_code", "outcome"),
    [
        ("USERPAYING", MicropayOutcome.PENDING),
        ("SYSTEMERROR", MicropayOutcome.UNKNOWN),
        ("BANKERROR", MicropayOutcome.UNKNOWN),
        ("SOMETHING_NEW", MicropayOutcome.UNKNOWN),
        ("", MicropayOutcome.UNKNOWN),
        ("NOTENOUGH", MicropayOutcome.DECLINED),
        ("AUTHCODEEXPIRE", MicropayOutcome.DECLINED),
        ("AUTH_CODE_INVALID", MicropayOutcome.DECLINED),
        ("ORDERREVERSED", MicropayOutcome.DECLINED),
        ("ORDERPAID", MicropayOutcome.ORDER_CONFLICT),
        ("OUT_TRADE_NO_USED", MicropayOutcome.ORDER_CONFLICT),
        ("NOAUTH", MicropayOutcome.REJECTED),
        ("SIGNERROR", MicropayOutcome.REJECTED),
        ("PARAM_ERROR", MicropayOutcome.REJECTED),
    ],
)
def test_err_codes_map_to_the_decision_table(err_code, outcome):
    assert micropay_outcome(err_code) == outcome


@pytest.mark.parametrize(
    ("code", "valid"),
    [
        ("134500000000000001", True),
        ("104500000000000001", True),
        ("164500000000000001", False),
        ("2845000000000000", False),
        ("13450000000000001", False),
        ("13450000000000000a", False),
    ],
)
def test_wechat_codes_are_18_digits_starting_10_to_15(code, valid):
    assert is_wechat_auth_code(code) is valid


def test_a_masked_code_keeps_only_its_ends():
    assert mask_auth_code("134512345678901234") == "13************1234"
    assert mask_auth_code("1234") == "****"
    assert mask_auth_code("") == ""

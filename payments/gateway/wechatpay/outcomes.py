"""What micropay err_codes mean (reference §4.1 and the decision table §5.3)."""

from payments.gateway.types import MicropayOutcome

GENERIC_ERRORS = frozenset(
    {
        "APPID_NOT_EXIST", "MCHID_NOT_EXIST", "APPID_MCHID_NOT_MATCH", "LACK_PARAMS",
        "PARAM_ERROR", "SIGNERROR", "XML_FORMAT_ERROR", "REQUIRE_POST_METHOD",
        "POST_DATA_EMPTY", "NOT_UTF8", "INVALID_TRANSACTIONID",
    }
)  # fmt: skip

# Confirmed failures: no money moved, a retry is a new payment with a new out_trade_no.
DECLINES = frozenset(
    {
        "AUTHCODEEXPIRE", "NOTENOUGH", "NOTSUPORTCARD", "AUTH_CODE_ERROR", "AUTH_CODE_INVALID",
        "TRADE_ERROR", "BUYER_MISMATCH", "ORDERCLOSED", "ORDERREVERSED",
    }
)  # fmt: skip

_MICROPAY = {
    "USERPAYING": MicropayOutcome.PENDING,
    "SYSTEMERROR": MicropayOutcome.UNKNOWN,
    "BANKERROR": MicropayOutcome.UNKNOWN,
    "ORDERPAID": MicropayOutcome.ORDER_CONFLICT,
    "OUT_TRADE_NO_USED": MicropayOutcome.ORDER_CONFLICT,
    "NOAUTH": MicropayOutcome.REJECTED,
    "INVALID_REQUEST": MicropayOutcome.REJECTED,
    **dict.fromkeys(GENERIC_ERRORS, MicropayOutcome.REJECTED),
    **dict.fromkeys(DECLINES, MicropayOutcome.DECLINED),
}


def micropay_outcome(err_code: str) -> MicropayOutcome:
    """Classify a result_code=FAIL micropay; unlisted codes are unknown, never a failure."""
    return _MICROPAY.get(err_code, MicropayOutcome.UNKNOWN)

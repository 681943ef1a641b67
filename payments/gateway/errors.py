"""Domain errors of the provider gateway.

Callers decide on two questions: did the provider answer at all, and can the answer be trusted.
Every error whose outcome is unknown derives from OutcomeUnknown: the request may have reached the
provider and moved money, so the caller must query (orderquery) before deciding, and must never
read such an error as paid or as failed.
"""


class GatewayError(Exception):
    """Base of every gateway error."""


class OutcomeUnknown(GatewayError):
    """The call's effect at the provider is unknown: query before deciding, never assume paid."""


class GatewayUnavailable(OutcomeUnknown):
    """Transport failure, timeout or HTTP 5xx.

    request_sent is False only when the connection was never made (nothing can have happened at
    the provider); a read timeout leaves it True.
    """

    def __init__(self, message: str, *, request_sent: bool = True, http_status: int | None = None):
        super().__init__(message)
        self.request_sent = request_sent
        self.http_status = http_status


class MalformedResponse(OutcomeUnknown):
    """The answer is not a well-formed, signed, consistent provider answer (HTML, 404, no sign…)."""


class SignatureInvalid(OutcomeUnknown):
    """The answer or notification carries a signature that does not verify with our key."""


class ProviderRejected(GatewayError):
    """return_code=FAIL: the provider refused the request at the protocol level (sign, params).

    Such answers are unsigned by design, so a caller that must be sure nothing happened (micropay)
    confirms with one orderquery.
    """

    def __init__(self, return_msg: str, *, fields: dict[str, str] | None = None):
        super().__init__(return_msg or "return_code=FAIL")
        self.return_msg = return_msg
        self.fields = fields or {}


class BillNotReady(ProviderRejected):
    """downloadbill answered "Bill Creating": retry later (after 10:00 Beijing for D-1)."""


class ImproperlyConfiguredGateway(GatewayError):
    """The gateway lacks credentials or settings needed for the call."""

"""What of a provider exchange may be logged or stored: never the key, sign or payment code."""

from collections.abc import Mapping

from payments.gateway.authcode import mask_auth_code

_DROP = frozenset({"sign", "key", "api_key", "sandbox_signkey"})
_MASK = frozenset({"auth_code"})


def redact(fields: Mapping[str, str]) -> dict[str, str]:
    redacted: dict[str, str] = {}
    for name, value in fields.items():
        if name in _DROP:
            redacted[name] = "[redacted]"
        elif name in _MASK:
            redacted[name] = mask_auth_code(value)
        else:
            redacted[name] = value
    return redacted

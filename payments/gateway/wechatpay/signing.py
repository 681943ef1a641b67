"""WeChat Pay v2 signatures (MD5 and HMAC-SHA256).

stringA = sorted non-empty fields except `sign`, joined as k=v&…; both algorithms append
"&key=<API key>" before hashing, HMAC-SHA256 also uses the key as its HMAC key.
"""

import hashlib
import hmac
from collections.abc import Mapping
from enum import StrEnum


class SignType(StrEnum):
    MD5 = "MD5"
    HMAC_SHA256 = "HMAC-SHA256"


def string_to_sign(fields: Mapping[str, str]) -> str:
    """Join every non-empty field but `sign`, sorted by name (ASCII, case-sensitive)."""
    return "&".join(f"{k}={fields[k]}" for k in sorted(fields) if k != "sign" and fields[k] != "")


def sign(fields: Mapping[str, str], key: str, sign_type: SignType = SignType.MD5) -> str:
    payload = f"{string_to_sign(fields)}&key={key}".encode()
    if sign_type == SignType.HMAC_SHA256:
        digest = hmac.new(key.encode(), payload, hashlib.sha256).hexdigest()
    else:
        digest = hashlib.md5(payload, usedforsecurity=False).hexdigest()
    return digest.upper()


def verify(fields: Mapping[str, str], key: str, sign_type: SignType = SignType.MD5) -> bool:
    """Check `sign` over every other received field; unknown new fields are signed too."""
    received = fields.get("sign", "")
    if not received:
        return False
    # Compare in constant time: the sign is a MAC of our key.
    return hmac.compare_digest(received.upper(), sign(fields, key, sign_type))


def sign_type_of(value: str | None, default: SignType = SignType.MD5) -> SignType:
    """Read a sign_type field; absent means the default, an unknown value raises ValueError."""
    if not value:
        return default
    return SignType(value)

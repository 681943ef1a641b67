"""Field encryption at rest, with keys from the environment.

FIELD_ENCRYPTION_KEYS is a comma-separated list of Fernet keys; the first encrypts, all decrypt, so
keys rotate by putting a new one first and re-saving rows. Outside production a key derived from
SECRET_KEY is used when none is set, so development needs no setup.
"""

import base64
import hashlib
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models


@cache
def _fernet() -> MultiFernet:
    keys = list(settings.FIELD_ENCRYPTION_KEYS)
    if not keys:
        if settings.PRODUCTION:
            raise ImproperlyConfigured(
                "FIELD_ENCRYPTION_KEYS is required when SHOUYIN_ENV=production."
            )
        digest = hashlib.sha256(f"shouyin-field-key:{settings.SECRET_KEY}".encode()).digest()
        keys = [base64.urlsafe_b64encode(digest).decode()]
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except ValueError as exc:
        raise ImproperlyConfigured(
            f"FIELD_ENCRYPTION_KEYS holds an invalid Fernet key: {exc}"
        ) from None


def encrypt(value: str) -> str:
    return _fernet().encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise ImproperlyConfigured(
            "an encrypted field cannot be read with FIELD_ENCRYPTION_KEYS"
        ) from None


def mask(value: str | None, *, keep: int = 4) -> str:
    """Show only the last `keep` characters: 6222020200112345678 -> ***************5678."""
    if not value:
        return ""
    return "*" * max(len(value) - keep, 0) + value[-keep:]


class EncryptedTextField(models.TextField):
    """A text column stored as a Fernet token; Python code sees the clear value.

    Encrypted values cannot be searched or compared in SQL; keep a separate hash or masked
    column when a lookup is needed.
    """

    def from_db_value(self, value, expression, connection):
        # Empty stays empty (get_prep_value stores "" as is): nothing to hide in it.
        return value if value in (None, "") else decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt(value)

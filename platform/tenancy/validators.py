"""Validators for identifiers that Chinese registries define (GB 32100-2015)."""

from django.core.exceptions import ValidationError

# The unified social credit code alphabet: digits and capitals without I, O, S, V and Z.
CREDIT_CODE_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_CODE_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def credit_code_check_char(first17: str) -> str:
    """Return the check character for the first 17 characters of a credit code."""
    total = sum(
        CREDIT_CODE_ALPHABET.index(char) * weight
        for char, weight in zip(first17, _CREDIT_CODE_WEIGHTS, strict=True)
    )
    return CREDIT_CODE_ALPHABET[(31 - total % 31) % 31]


def validate_credit_code(value: str) -> None:
    """Reject a unified social credit code that is not 18 valid characters with a valid check."""
    if len(value) != 18:
        raise ValidationError("A unified social credit code has 18 characters.", code="length")
    if any(char not in CREDIT_CODE_ALPHABET for char in value):
        raise ValidationError(
            "A unified social credit code uses only digits and capitals (no I, O, S, V, Z).",
            code="alphabet",
        )
    if credit_code_check_char(value[:17]) != value[17]:
        raise ValidationError(
            "The check character of this unified social credit code is wrong.", code="checksum"
        )

"""Amounts: integer fen in the API, yuan strings with two decimals in bills."""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation


def fen_to_yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"


def yuan_to_fen(value: str) -> int:
    """Parse a bill amount ("0.01", "12", "-0.60") exactly; ValueError on anything else."""
    try:
        amount = Decimal(value.strip())
    except InvalidOperation:
        raise ValueError(f"not an amount: {value!r}") from None
    if not amount.is_finite():
        raise ValueError(f"not an amount: {value!r}")
    fen = amount * 100
    if fen != fen.to_integral_value():
        raise ValueError(f"amount has fractions of a fen: {value!r}")
    return int(fen)


def fee_fen(amount_fen: int, rate_basis_points: int) -> int:
    """Provider fee on an amount, rounded half up to the fen (sign follows the amount)."""
    fee = (Decimal(abs(amount_fen)) * rate_basis_points / 10000).quantize(
        Decimal(1), rounding=ROUND_HALF_UP
    )
    return int(fee) if amount_fen >= 0 else -int(fee)


def parse_fen(value: str | None) -> int | None:
    """Parse an API amount field (integer fen); None when absent or not an integer."""
    if value is None or not value.isdigit():
        return None
    return int(value)

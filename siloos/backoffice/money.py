"""Money as exact cents: amounts arrive as text (CSV) or floats (exit arguments) and are
compared and summed as integers, so 0.1 + 0.2 never refunds a cent too much."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

#: Upper bound for any single amount (a guard against typos such as an extra zero run).
MAX_CENTS = 100_000_000_00


class BadAmount(ValueError):
    """Not a usable money amount; the message says why."""


def to_cents(value: object) -> int:
    """Cents of a non-negative amount with at most two decimals (`'12.5'` → 1250)."""
    if isinstance(value, bool):
        raise BadAmount("is not a number")
    try:
        # str() of a float is its shortest round-trip form, so 49.99 stays 49.99.
        amount = Decimal(value.strip() if isinstance(value, str) else str(value))
    except (InvalidOperation, ValueError):
        raise BadAmount("is not a number") from None
    if not amount.is_finite():
        raise BadAmount("is not a number")
    if amount < 0:
        raise BadAmount("must not be negative")
    cents = amount * 100
    if cents != cents.to_integral_value():
        raise BadAmount("has more than two decimal places")
    if cents > MAX_CENTS:
        raise BadAmount("is too large")
    return int(cents)


def from_cents(cents: int) -> float:
    return cents / 100

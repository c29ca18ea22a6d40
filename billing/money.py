"""Money is a Decimal and a currency. Amounts are stored with MONEY_DECIMAL_PLACES places and rounded to the
currency's own places (ROUND_HALF_UP) at the edges.

MONEY_DECIMAL_PLACES is a constant, not a Django setting: it is the shape of every money column, so changing
it is a schema change that belongs in a migration, not in an environment variable.
"""

from decimal import ROUND_HALF_UP, Decimal

from django.db import models

MONEY_MAX_DIGITS = 14
MONEY_DECIMAL_PLACES = 2
ZERO = Decimal("0")
# The first amount a money column cannot hold.
MONEY_LIMIT = Decimal(10) ** (MONEY_MAX_DIGITS - MONEY_DECIMAL_PLACES)


def MoneyField(**kwargs) -> models.DecimalField:  # noqa: N802 - reads like the field class it returns
    kwargs.setdefault("default", ZERO)
    return models.DecimalField(max_digits=MONEY_MAX_DIGITS, decimal_places=MONEY_DECIMAL_PLACES, **kwargs)


def quantize(amount: Decimal, places: int = MONEY_DECIMAL_PLACES) -> Decimal:
    if not isinstance(amount, Decimal):
        raise TypeError(f"Money must be a Decimal, not {type(amount).__name__}")
    return amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def to_minor_units(amount: Decimal, places: int) -> int:
    """An amount in the currency's smallest unit (cents), rounded ROUND_HALF_UP: never int(amount * 100)."""
    return int(quantize(amount, places).scaleb(places).to_integral_value(rounding=ROUND_HALF_UP))


def from_minor_units(minor: int, places: int) -> Decimal:
    return Decimal(int(minor)).scaleb(-places)

"""Money is a Decimal and a currency. Amounts are stored with MONEY_DECIMAL_PLACES places and rounded to the
currency's own places (ROUND_HALF_UP) at the edges.

MONEY_DECIMAL_PLACES is a constant, not a Django setting: it is the shape of every money column, so changing
it is a schema change that belongs in a migration, not in an environment variable.

Here in core, not in billing, because the automation settings (a layer below billing) hold money too: the late
fee. billing.money re-exports every name, so billing's code reads its money where it always did.
"""

from decimal import ROUND_HALF_UP, Decimal
from typing import Protocol

from django.core.exceptions import ValidationError
from django.db import models

MONEY_MAX_DIGITS = 14
MONEY_DECIMAL_PLACES = 2
ZERO = Decimal("0")
# The first amount a money column cannot hold.
MONEY_LIMIT = Decimal(10) ** (MONEY_MAX_DIGITS - MONEY_DECIMAL_PLACES)
# Before a negative amount, ahead of the currency's prefix: the typeset minus, as wide as a digit.
MINUS = "\N{MINUS SIGN}"


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


class CurrencyPlaces(Protocol):
    """What checking an amount needs of a currency (billing.models.Currency has it)."""

    code: str
    decimal_places: int

    def quantize(self, amount: Decimal) -> Decimal: ...


def money_validate(
    amount: Decimal, currency: CurrencyPlaces, *, what: str = "The amount", allow_zero: bool = False
) -> None:
    """Refuse amounts that are not Decimal, not finite, negative (or zero) or finer than the currency."""
    if not isinstance(amount, Decimal):
        raise ValidationError(f"{what} must be a Decimal, not {type(amount).__name__}.")
    if not amount.is_finite():
        raise ValidationError(f"{what} is not a number.")
    # copy_abs() and the comparison are exact: abs() would round in the context and raise decimal.Overflow
    # on an exponent beyond it (1e1000000). The amount is not repeated: it may be thousands of digits long.
    if amount.copy_abs() >= MONEY_LIMIT:
        raise ValidationError(f"{what} is larger than the books can hold ({MONEY_LIMIT - 1:,}).")
    if amount < 0 or (amount == 0 and not allow_zero):
        raise ValidationError(f"{what} must be {'zero or more' if allow_zero else 'more than zero'}, not {amount}.")
    if amount != currency.quantize(amount):
        raise ValidationError(
            f"{what} {amount} has more than {currency.decimal_places} decimal places for {currency.code}."
        )


class CurrencyFormat(Protocol):
    """What writing an amount needs of a currency (billing.models.Currency has it)."""

    prefix: str
    suffix: str
    decimal_places: int


def format_money(amount: Decimal, currency: CurrencyFormat) -> str:
    """An amount as pages, PDFs and emails write it: rounded to the currency's places, thousands separated, a
    negative one with MINUS ahead of the prefix: `$1,234.50 USD`, MINUS + `€9.65 EUR`, `¥1,235 JPY`. An amount that
    rounds to nothing is `$0.00`, never a negative zero."""
    rounded = quantize(amount, currency.decimal_places)
    sign = MINUS if rounded < 0 else ""
    suffix = f" {currency.suffix}" if currency.suffix else ""
    return f"{sign}{currency.prefix}{abs(rounded):,.{currency.decimal_places}f}{suffix}"


def format_rate(rate: Decimal | int) -> str:
    """A percentage (a tax rate, a percent off) with the places it needs and no exponent: 20%, 7.5%, 19.25%."""
    if isinstance(rate, bool) or not isinstance(rate, Decimal | int):
        raise TypeError(f"A rate must be a Decimal, not {type(rate).__name__}")
    # normalize() drops trailing zeros, and writes 20 as 2E+1: the "f" format writes it out again.
    return f"{Decimal(rate).normalize() + 0:f}%"

"""Billing's money: the primitives live in core.money (the automation settings, below billing, hold money too);
every name is re-exported here, so billing's code and its migrations keep reading `billing.money`."""

from core.money import (
    MINUS,
    MONEY_DECIMAL_PLACES,
    MONEY_LIMIT,
    MONEY_MAX_DIGITS,
    ZERO,
    CurrencyFormat,
    CurrencyPlaces,
    MoneyField,
    format_money,
    format_rate,
    from_minor_units,
    money_validate,
    quantize,
    to_minor_units,
)

__all__ = [
    "MINUS",
    "MONEY_DECIMAL_PLACES",
    "MONEY_LIMIT",
    "MONEY_MAX_DIGITS",
    "ZERO",
    "CurrencyFormat",
    "CurrencyPlaces",
    "MoneyField",
    "format_money",
    "format_rate",
    "from_minor_units",
    "money_validate",
    "quantize",
    "to_minor_units",
]

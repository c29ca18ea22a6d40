from decimal import Decimal

from django import template

register = template.Library()


@register.simple_tag
def money(amount: Decimal, currency) -> str:
    """An amount in its currency's format, e.g. $1,234.50."""
    return currency.format(amount if amount is not None else Decimal(0))

from decimal import Decimal

from django import template

from billing.money import format_money

register = template.Library()


@register.simple_tag
def money(amount: Decimal | None, currency) -> str:
    """An amount in its currency's format, as PDFs and emails write it too: see billing.money.format_money."""
    return format_money(amount if amount is not None else Decimal(0), currency)

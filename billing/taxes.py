"""Invoice totals, computed in one place.

Each taxed line is taxed on its own and rounded to the currency's places (ROUND_HALF_UP), then the line taxes
are summed: the invoice shows the same tax a client gets by adding up its lines. With prices that include
tax, a line's amount is what the client pays: the net is taken out of it and the taxes are what is left, so
the total never differs from the catalog price by a rounding cent.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from billing.money import ZERO, quantize

HUNDRED = Decimal(100)


@dataclass(frozen=True)
class TaxSetup:
    """The taxes an invoice is computed with: two levels (rates in percent), and how they combine."""

    rate_1: Decimal = ZERO
    rate_2: Decimal = ZERO
    name_1: str = ""
    name_2: str = ""
    compound: bool = False
    prices_include_tax: bool = False

    @property
    def charges_tax(self) -> bool:
        return self.rate_1 > 0 or self.rate_2 > 0


NO_TAX = TaxSetup()


@dataclass(frozen=True)
class Line:
    amount: Decimal
    taxed: bool


@dataclass(frozen=True)
class LineTax:
    net: Decimal
    tax_1: Decimal
    tax_2: Decimal


@dataclass(frozen=True)
class Totals:
    subtotal: Decimal
    tax_1: Decimal
    tax_2: Decimal
    credit_applied: Decimal
    total: Decimal

    @property
    def before_credit(self) -> Decimal:
        return self.subtotal + self.tax_1 + self.tax_2


def line_tax(amount: Decimal, setup: TaxSetup, places: int) -> LineTax:
    """Net and taxes of one taxed line, each rounded to `places`."""
    r1, r2 = setup.rate_1 / HUNDRED, setup.rate_2 / HUNDRED
    if not setup.prices_include_tax:
        tax_1 = quantize(amount * r1, places)
        tax_2 = quantize((amount + tax_1 if setup.compound else amount) * r2, places)
        return LineTax(net=amount, tax_1=tax_1, tax_2=tax_2)
    factor = (1 + r1) * (1 + r2) if setup.compound else 1 + r1 + r2
    net = quantize(amount / factor, places)
    taxes = amount - net
    # Whatever rounding leaves goes to the last level that is charged, so net + taxes == amount exactly.
    if r2 == 0:
        return LineTax(net=net, tax_1=taxes, tax_2=ZERO)
    if r1 == 0:
        return LineTax(net=net, tax_1=ZERO, tax_2=taxes)
    # Split what the line holds in proportion to each level's share, so neither level can go negative.
    share_1 = r1 / (r1 + r2 + (r1 * r2 if setup.compound else 0))
    tax_1 = quantize(taxes * share_1, places)
    return LineTax(net=net, tax_1=tax_1, tax_2=taxes - tax_1)


def compute_totals(lines: Iterable[Line], setup: TaxSetup, *, places: int, credit: Decimal = ZERO) -> Totals:
    """Subtotal, taxes, credit and total of an invoice. Credit is capped at what the invoice comes to, so the
    total is never negative; a negative subtotal (discounts above charges) is the caller's error to refuse."""
    subtotal = tax_1 = tax_2 = ZERO
    for line in lines:
        if line.taxed and setup.charges_tax:
            taxed = line_tax(line.amount, setup, places)
            subtotal += taxed.net
            tax_1 += taxed.tax_1
            tax_2 += taxed.tax_2
        else:
            subtotal += line.amount
    # A discount on taxed lines larger than the taxed charges would give a tax refund: the invoice charges none.
    tax_1, tax_2 = max(tax_1, ZERO), max(tax_2, ZERO)
    before_credit = subtotal + tax_1 + tax_2
    credit = min(max(credit, ZERO), max(before_credit, ZERO))
    return Totals(subtotal=subtotal, tax_1=tax_1, tax_2=tax_2, credit_applied=credit, total=before_credit - credit)

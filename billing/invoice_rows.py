"""What an invoice shows under its lines (subtotal, taxes, credit, total, payments, balance) and what each of
its transactions did for it, written once for the client-area page and the PDF so the two always agree."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from billing.models import Currency, Invoice
from billing.money import format_rate


@dataclass(frozen=True)
class TotalRow:
    label: str
    amount: str
    kind: str = ""  # "total" or "balance": the rows the page and the PDF set apart


def tax_label(name: str, rate: Decimal) -> str:
    """`VAT 19%`; a tax without a name is `Tax 19%`."""
    return f"{name or 'Tax'} {format_rate(rate)}"


def invoice_totals(invoice: Invoice) -> list[TotalRow]:
    """The rows under the lines. A tax appears when it has a rate or an amount; credit and refunds when there
    are any, as amounts taken off."""
    money = invoice.currency.format
    rows = [TotalRow("Subtotal", money(invoice.subtotal))]
    if invoice.tax_1_rate > 0 or invoice.tax_1 > 0:
        rows.append(TotalRow(tax_label(invoice.tax_1_name, invoice.tax_1_rate), money(invoice.tax_1)))
    if invoice.tax_2_rate > 0 or invoice.tax_2 > 0:
        compound = " (compound)" if invoice.tax_compound else ""
        rows.append(TotalRow(tax_label(invoice.tax_2_name, invoice.tax_2_rate) + compound, money(invoice.tax_2)))
    if invoice.credit_applied > 0:
        rows.append(TotalRow("Credit applied", money(-invoice.credit_applied)))
    rows.append(TotalRow("Total", money(invoice.total), "total"))
    rows.append(TotalRow("Amount paid", money(invoice.amount_paid)))
    if invoice.amount_refunded > 0:
        rows.append(TotalRow("Refunded", money(-invoice.amount_refunded)))
    rows.append(TotalRow("Balance due", money(invoice.balance_due), "balance"))
    return rows


def transaction_amount(*, amount_in: Decimal, amount_out: Decimal, credit_change: Decimal, currency: Currency) -> str:
    """What a movement did for the invoice: money in, money back (negative), or credit used on it (credit given
    back from it, negative)."""
    moved = amount_in - amount_out if amount_in or amount_out else -credit_change
    return currency.format(moved)

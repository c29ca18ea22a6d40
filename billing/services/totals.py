"""An invoice's totals and balance, computed from its lines with the taxes it was created with: the one place
totals are computed (billing.taxes.compute_totals does the arithmetic). Below invoices, payments and the ledger,
which all change what an invoice comes to."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.utils import timezone

from billing.models import Invoice, InvoiceItem
from billing.money import ZERO
from billing.taxes import Line, TaxSetup, compute_totals
from core.rows import update_rows


def tax_setup_of(invoice: Invoice) -> TaxSetup:
    return TaxSetup(
        rate_1=invoice.tax_1_rate,
        rate_2=invoice.tax_2_rate,
        name_1=invoice.tax_1_name,
        name_2=invoice.tax_2_name,
        compound=invoice.tax_compound,
        prices_include_tax=invoice.prices_include_tax,
    )


TOTAL_FIELDS = ["subtotal", "tax_1", "tax_2", "total", "balance_due", "updated_at"]


def invoice_recalculate(invoice: Invoice, *, lines: list[Line] | None = None) -> None:
    """Compute and store the invoice's totals and balance from its lines, with the taxes it was created with.
    The one place totals are computed; the caller holds the invoice's lock."""
    if lines is None:
        lines = [Line(amount=amount, taxed=taxed) for amount, taxed in invoice.items.values_list("amount", "taxed")]
    totals_apply(invoice, lines)
    invoice.save(update_fields=TOTAL_FIELDS)


def invoices_add_untaxed(added: dict[int, Decimal]) -> None:
    """Add untaxed lines' amounts ({invoice id: sum of the new lines}) to these invoices' totals in one UPDATE
    (the automation run's late fees). An untaxed line adds its amount to the subtotal and the total and changes
    neither tax nor the credit already applied, so this stores what invoice_recalculate would compute from all
    the lines without reading them (a test pins the two together). The caller holds the invoices' locks."""
    if not added:
        return
    now = timezone.now()
    rows = []
    for pk, subtotal, total, amount_paid in Invoice.objects.filter(pk__any=list(added)).values_list(
        "pk", "subtotal", "total", "amount_paid"
    ):
        new_total = total + added[pk]
        rows.append((pk, subtotal + added[pk], new_total, max(ZERO, new_total - amount_paid), now))
    update_rows(Invoice, ["subtotal", "total", "balance_due", "updated_at"], rows)


def invoices_recalculate(invoice_ids: list[int]) -> None:
    """invoice_recalculate for many invoices in three statements whatever their number (the automation run's
    domain grace and redemption fees, which may be taxed): the invoices and their currencies in one read, all
    their lines in another, the totals computed by totals_apply for each and stored in one UPDATE. Raises
    ValidationError as totals_apply does; the caller holds the invoices' locks."""
    if not invoice_ids:
        return
    invoices = list(Invoice.objects.filter(pk__any=list(invoice_ids)).select_related("currency").order_by("pk"))
    lines: dict[int, list[Line]] = defaultdict(list)
    for invoice_id, amount, taxed in InvoiceItem.objects.filter(invoice_id__any=[i.pk for i in invoices]).values_list(
        "invoice_id", "amount", "taxed"
    ):
        lines[invoice_id].append(Line(amount=amount, taxed=taxed))
    now = timezone.now()
    for invoice in invoices:
        totals_apply(invoice, lines[invoice.pk])
        invoice.updated_at = now
    rows = [(invoice.pk, *(getattr(invoice, field) for field in TOTAL_FIELDS)) for invoice in invoices]
    update_rows(Invoice, TOTAL_FIELDS, rows)


def totals_apply(invoice: Invoice, lines: list[Line]) -> None:
    """Set the invoice's totals and balance from its lines (not saved): what invoice_recalculate stores."""
    totals = compute_totals(
        lines, tax_setup_of(invoice), places=invoice.currency.decimal_places, credit=invoice.credit_applied
    )
    if totals.subtotal < 0:
        raise ValidationError(
            f"The lines of {invoice} add up to {invoice.currency.format(totals.subtotal)}: "
            "discounts cannot exceed the charges."
        )
    if totals.credit_applied != invoice.credit_applied:
        raise ValidationError(
            f"{invoice} would come to less than the credit already applied to it; remove the credit first."
        )
    invoice.subtotal, invoice.tax_1, invoice.tax_2, invoice.total = (
        totals.subtotal,
        totals.tax_1,
        totals.tax_2,
        totals.total,
    )
    invoice.balance_due = max(ZERO, totals.total - invoice.amount_paid)

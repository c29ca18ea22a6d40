"""Invoice numbers: the format, its scope, and the next number from a locked counter row (gapless).

Below invoices and payments, which both number an invoice (on issue, or on payment for proforma invoices)."""

from __future__ import annotations

import datetime
import re

from django.core.exceptions import ValidationError

from billing.models import BillingSettings, Invoice, InvoiceNumberCounter

_PLACEHOLDER = re.compile(r"\{(YEAR|MONTH|SEQ)(?::0?(\d{1,2}))?\}")


def number_format_validate(number_format: str) -> None:
    """Refuse a format that cannot give unique numbers or holds an unknown placeholder."""
    if not any(m.group(1) == "SEQ" for m in _PLACEHOLDER.finditer(number_format)):
        raise ValidationError("The invoice number format needs a {SEQ} placeholder, e.g. INV-{YEAR}-{SEQ:06}.")
    leftover = _PLACEHOLDER.sub("", number_format)
    if "{" in leftover or "}" in leftover:
        raise ValidationError(
            f"Unknown placeholder in {number_format!r}: use {{YEAR}}, {{MONTH}}, {{SEQ}} or {{SEQ:06}}."
        )
    used = {m.group(1) for m in _PLACEHOLDER.finditer(number_format)}
    if "MONTH" in used and "YEAR" not in used:
        raise ValidationError("A format with {MONTH} needs {YEAR} too, or numbers would repeat every year.")


def number_scope(number_format: str, on: datetime.date) -> str:
    """The counter a format counts in: the sequence restarts each year with {YEAR}, each month with {MONTH}."""
    if "{MONTH" in number_format:
        return f"{on:%Y-%m}"
    if "{YEAR" in number_format:
        return f"{on:%Y}"
    return "all"


def number_format_apply(number_format: str, *, sequence: int, on: datetime.date) -> str:
    def replace(match: re.Match) -> str:
        name, width = match.group(1), int(match.group(2) or 0)
        if name == "YEAR":
            return f"{on:%Y}"
        if name == "MONTH":
            return f"{on:%m}"
        return str(sequence).zfill(width)

    return _PLACEHOLDER.sub(replace, number_format)


def numbered_when_unpaid(billing: BillingSettings) -> bool:
    """Whether an invoice is numbered when it becomes Unpaid; proforma invoices get theirs when paid."""
    return not billing.number_on_payment


def _taken(number: str) -> ValidationError:
    return ValidationError(
        f"Invoice number {number} is already taken: the number format was changed to one that "
        "repeats earlier numbers. Change the format in the billing settings."
    )


def _counter_locked(number_format: str, on: datetime.date) -> InvoiceNumberCounter:
    scope = number_scope(number_format, on)
    InvoiceNumberCounter.objects.bulk_create([InvoiceNumberCounter(scope=scope)], ignore_conflicts=True)
    return InvoiceNumberCounter.objects.select_for_update().get(scope=scope)


def number_allocate(invoice: Invoice, *, on: datetime.date, billing: BillingSettings) -> None:
    """Give the invoice the next number from its locked counter row (not saved). The caller holds a transaction
    (and the invoice's lock), so a rollback hands the number back: numbers stay gapless."""
    if invoice.number:
        return
    number_format = billing.invoice_number_format
    counter = _counter_locked(number_format, on)
    counter.last_value += 1
    counter.save(update_fields=["last_value"])
    invoice.number = number_format_apply(number_format, sequence=counter.last_value, on=on)
    if Invoice.objects.filter(number=invoice.number).exists():
        raise _taken(invoice.number)


def numbers_allocate(count: int, *, on: datetime.date, billing: BillingSettings) -> list[str]:
    """number_allocate for a batch: the counter row is locked and moved once for all of them."""
    number_format = billing.invoice_number_format
    counter = _counter_locked(number_format, on)
    first = counter.last_value + 1
    counter.last_value += count
    counter.save(update_fields=["last_value"])
    numbers = [number_format_apply(number_format, sequence=n, on=on) for n in range(first, first + count)]
    # Taken already only when the format was changed to one that repeats earlier numbers. One range probe of
    # the number index rules that out for the batch; only a hit is looked at number by number.
    in_range = Invoice.objects.filter(number__gte=min(numbers), number__lte=max(numbers))
    taken = list(in_range.filter(number__in=numbers).values_list("number", flat=True)[:1]) if in_range.exists() else []
    if taken:
        raise _taken(taken[0])
    return numbers


def number_if_numbered_when_unpaid(invoice: Invoice, *, on: datetime.date, billing: BillingSettings) -> None:
    """Number a newly Unpaid invoice and save the number, unless invoices are proforma."""
    if numbered_when_unpaid(billing) and not invoice.number:
        number_allocate(invoice, on=on, billing=billing)
        invoice.save(update_fields=["number", "updated_at"])

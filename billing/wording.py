"""The words for what billing's services and selectors return (billing.outcomes): the admin's messages, the
refusals and the activity log say the same."""

from __future__ import annotations

from billing.models import Invoice
from billing.outcomes import InvoiceDeleteBlocker, KeptBecause, WithdrawalOutcome


def invoice_delete_blocker_words(invoice: Invoice, blocker: InvoiceDeleteBlocker) -> str:
    if blocker is InvoiceDeleteBlocker.NOT_DELETABLE_STATUS:
        return f"{invoice} is {invoice.get_status_display()}; refund or keep it instead of deleting it."
    if blocker is InvoiceDeleteBlocker.CREDIT_APPLIED:
        return f"{invoice} has credit applied; remove the credit before deleting it."
    if blocker is InvoiceDeleteBlocker.PAYMENTS_RECORDED:
        return f"{invoice} has payments recorded against it; refund them instead of deleting it."
    raise TypeError(f"No words for {blocker!r}")


def withdrawal_kept_words(outcome: WithdrawalOutcome) -> str:
    """Why invoice_lines_withdraw left an invoice for an admin ("it is Paid"); empty when it did not."""
    kept = outcome.kept_because
    if kept is None:
        return ""
    if kept is KeptBecause.NOT_OPEN:
        return f"it is {Invoice.Status(outcome.status).label}"
    if kept is KeptBecause.LINES_GONE:
        return "its lines were removed meanwhile"
    if kept is KeptBecause.MONEY_ON_IT:
        return "it has money on it"
    if kept is KeptBecause.TOTALS_REFUSED:
        return "; ".join(message.rstrip(".") for message in outcome.refused)
    raise TypeError(f"No words for {kept!r}")

from django.db.models import QuerySet

from billing.models import Client, Invoice


def client_invoices(*, client: Client) -> QuerySet[Invoice]:
    return Invoice.objects.filter(client=client).select_related("currency").order_by("-date", "-id")


DELETABLE_INVOICE_STATUSES = (Invoice.Status.DRAFT, Invoice.Status.UNPAID, Invoice.Status.CANCELLED)


def invoice_delete_blocker(*, invoice: Invoice) -> str | None:
    """Why this invoice may not be deleted, or None. Money that was received or credited must stay on record."""
    if invoice.status not in DELETABLE_INVOICE_STATUSES:
        return f"{invoice} is {invoice.get_status_display()}; refund or keep it instead of deleting it."
    if invoice.credit_applied > 0:
        return f"{invoice} has credit applied; remove the credit before deleting it."
    if invoice.transactions.exists():
        return f"{invoice} has payments recorded against it; refund them instead of deleting it."
    return None

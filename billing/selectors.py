from django.db.models import QuerySet

from billing.models import Client, Invoice


def client_invoices(*, client: Client) -> QuerySet[Invoice]:
    return Invoice.objects.filter(client=client).select_related("currency").order_by("-date", "-id")

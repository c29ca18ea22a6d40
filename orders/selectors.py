from django.db.models import QuerySet

from billing.models import Client
from orders.models import Order, Product


def client_orders(*, client: Client) -> QuerySet[Order]:
    return Order.objects.filter(client=client).select_related("currency", "invoice").order_by("-created_at", "-id")


def orderable_products() -> QuerySet[Product]:
    return Product.objects.filter(retired=False, hidden=False, group__hidden=False).select_related("group")

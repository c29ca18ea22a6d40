from django.db.models import QuerySet

from billing.models import Client
from billing.selectors import invoice_delete_blocker
from orders.models import Order
from provisioning.models import Domain, Service
from provisioning.selectors import live_items


def client_orders(*, client: Client) -> QuerySet[Order]:
    return Order.objects.filter(client=client).select_related("currency", "invoice").order_by("-created_at", "-id")


def order_delete_blockers(*, order: Order, services: list[Service], domains: list[Domain]) -> list[str]:
    """Why the order may not be deleted yet; empty when it may. Shown on the confirmation page and enforced by
    order_delete under its locks."""
    blockers = []
    if live := live_items(services=services, domains=domains):
        blockers.append(
            f"{order} has live items ({', '.join(live)}). "
            "Cancel the order first so they are terminated, then delete it."
        )
    if order.invoice_id and (reason := invoice_delete_blocker(invoice=order.invoice)):
        blockers.append(reason)
    return blockers

from django.db.models import Prefetch, QuerySet

from billing.models import Client
from billing.selectors import invoice_delete_blocker
from orders.models import Order, Product, ProductGroup, ProductPricing
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


def catalog(*, currency) -> list[tuple[ProductGroup, list[tuple[Product, list[ProductPricing]]]]]:
    """What the storefront sells in a currency: visible groups, their products on sale, each with its prices.
    Three queries whatever the size of the catalog."""
    products = (
        Product.objects.filter(hidden=False, retired=False, group__hidden=False)
        .select_related("group")
        .prefetch_related(
            Prefetch(
                "pricing",
                queryset=ProductPricing.objects.filter(currency=currency).order_by("billing_cycle"),
                to_attr="prices",
            )
        )
    )
    groups: dict[int, tuple[ProductGroup, list]] = {}
    for product in products:
        if not product.prices:
            continue
        groups.setdefault(product.group_id, (product.group, []))[1].append((product, product.prices))
    return sorted(groups.values(), key=lambda entry: (entry[0].sort_order, entry[0].name))


def product_for_sale(*, product_id: int, currency) -> tuple[Product, list[ProductPricing]] | None:
    product = (
        Product.objects.filter(pk=product_id, hidden=False, retired=False, group__hidden=False)
        .select_related("group")
        .first()
    )
    if product is None:
        return None
    prices = list(ProductPricing.objects.filter(product=product, currency=currency))
    return (product, prices) if prices else None

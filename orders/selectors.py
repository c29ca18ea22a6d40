import datetime
from dataclasses import dataclass

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet

from billing.models import Client, Invoice
from billing.selectors import invoice_delete_blocker
from billing.wording import invoice_delete_blocker_words
from orders.models import Order, Product, ProductGroup, ProductPricing
from provisioning.models import Domain, Service
from provisioning.selectors import live_items


def client_orders(*, client: Client) -> QuerySet[Order]:
    return Order.objects.filter(client=client).select_related("currency", "invoice").order_by("-created_at", "-id")


# The admin's review actions (Order transitions), in the order the page shows their buttons.
REVIEW_ACTIONS = ("accept", "cancel", "mark_fraud", "set_pending")


def order_review_actions(*, order: Order) -> list[str]:
    """The review actions an admin is offered on this order: those its status allows, in REVIEW_ACTIONS order."""
    available = {t.name for t in order.get_available_status_transitions()}
    return [name for name in REVIEW_ACTIONS if name in available]


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
        blockers.append(invoice_delete_blocker_words(order.invoice, reason))
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


@dataclass(frozen=True)
class OrderDeskCatalog:
    """What an admin may order for a client in its currency: (product id, label with its prices) for products
    and for domain products (a TLD)."""

    products: list[tuple[int, str]]
    domains: list[tuple[int, str]]


def order_desk_catalog(*, currency) -> OrderDeskCatalog:
    """Every product on sale in the currency, hidden ones too (an admin may sell what the storefront does not
    show), labelled with its prices. Two queries whatever the size of the catalog."""
    products = (
        Product.objects.filter(retired=False)
        .select_related("group")
        .prefetch_related(
            Prefetch(
                "pricing",
                queryset=ProductPricing.objects.filter(currency=currency).order_by("billing_cycle"),
                to_attr="prices",
            )
        )
        .order_by("group__sort_order", "group__name", "name", "pk")
    )
    found = OrderDeskCatalog(products=[], domains=[])
    for product in products:
        if not product.prices:
            continue
        prices = ", ".join(
            f"{price.get_billing_cycle_display().lower()} {currency.format(price.price)}" for price in product.prices
        )
        if product.type == Product.Type.DOMAIN:
            found.domains.append((product.pk, f"{product.name} ({prices})"))
        else:
            found.products.append((product.pk, f"{product.group.name} - {product.name} ({prices})"))
    return found


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


@dataclass(frozen=True)
class OrderFraudHistory:
    """What the portal knows about a client, an email address and an IP address before an order: the counts and
    flags the fraud check takes (fraud.engine.OrderFacts). Counts never include the order itself."""

    earlier_orders: int
    earlier_fraud_orders_same_ip: int
    earlier_fraud_orders_same_email: int
    earlier_fraud_orders_same_client: int
    orders_from_ip_last_hour: int
    has_paid_invoice: bool
    has_active_service: bool


def order_fraud_history(*, order: Order, client: Client, email: str) -> OrderFraudHistory:
    """Two queries whatever the history: one aggregate over the orders sharing the client, the IP address or the
    email, one over the client's invoices and services. "Earlier" means placed before `order`; the hour is the
    hour before it. The order's own invoice and services do not count (a recheck of an accepted order must not
    find its own services)."""
    ip_address = order.ip_address or None
    email = email.strip()
    fraud = Q(status=Order.Status.FRAUD)
    same_client = Q(client_id=client.pk)
    related = same_client
    counts = {
        "earlier_orders": Count("pk", filter=same_client),
        "earlier_fraud_orders_same_client": Count("pk", filter=same_client & fraud),
    }
    if ip_address:
        same_ip = Q(ip_address=ip_address)
        related |= same_ip
        counts["earlier_fraud_orders_same_ip"] = Count("pk", filter=same_ip & fraud)
        hour_before = order.created_at - datetime.timedelta(hours=1)
        counts["orders_from_ip_last_hour"] = Count("pk", filter=same_ip & Q(created_at__gte=hour_before))
    if email:
        same_email = Q(client__email__iexact=email)
        related |= same_email
        counts["earlier_fraud_orders_same_email"] = Count("pk", filter=same_email & fraud)
    found = (
        Order.objects.filter(related, created_at__lte=order.created_at)
        .exclude(pk=order.pk)
        .order_by()
        .aggregate(**counts)
    )
    flags = (
        Client.objects.filter(pk=client.pk)
        .annotate(
            has_paid_invoice=Exists(
                Invoice.objects.filter(client_id=OuterRef("pk"), status=Invoice.Status.PAID).exclude(
                    pk=order.invoice_id or 0
                )
            ),
            has_active_service=Exists(
                Service.objects.filter(client_id=OuterRef("pk"), status=Service.Status.ACTIVE).exclude(
                    order_id=order.pk
                )
            ),
        )
        .values("has_paid_invoice", "has_active_service")
        .get()
    )
    return OrderFraudHistory(
        earlier_orders=found["earlier_orders"] or 0,
        earlier_fraud_orders_same_ip=found.get("earlier_fraud_orders_same_ip") or 0,
        earlier_fraud_orders_same_email=found.get("earlier_fraud_orders_same_email") or 0,
        earlier_fraud_orders_same_client=found["earlier_fraud_orders_same_client"] or 0,
        orders_from_ip_last_hour=found.get("orders_from_ip_last_hour") or 0,
        has_paid_invoice=flags["has_paid_invoice"],
        has_active_service=flags["has_active_service"],
    )

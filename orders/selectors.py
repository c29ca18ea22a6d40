import datetime
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet

from billing.cycles import BillingCycle
from billing.models import Client, Invoice
from billing.money import ZERO
from billing.selectors import invoice_delete_blocker
from billing.wording import invoice_delete_blocker_words
from core.domain_names import normalize_domain_name
from orders.models import Order, Product, ProductGroup, ProductPricing
from provisioning.domain_models import TldPrice
from provisioning.domain_selectors import tld_price_list, tlds_for_names
from provisioning.models import Domain, Service, Tld
from provisioning.selectors import live_items

# A domain's years as a billing cycle, for a domain product priced by its own pricing (no TLD row).
_CYCLE_YEARS = {BillingCycle.ANNUALLY: 1, BillingCycle.BIENNIALLY: 2, BillingCycle.TRIENNIALLY: 3}


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
    tlds_priced = None
    for product in products:
        if not product.prices and product.type == Product.Type.DOMAIN:
            if tlds_priced is None:  # asked once, and only when a domain product has no pricing of its own
                tlds_priced = bool(tld_price_list(currency=currency))
            if tlds_priced:
                groups.setdefault(product.group_id, (product.group, []))[1].append((product, product.prices))
            continue
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
    if not prices and product.type == Product.Type.DOMAIN and tld_price_list(currency=currency):
        return product, prices  # priced per TLD (domain_price_list)
    return (product, prices) if prices else None


@dataclass(frozen=True)
class DomainPriceList:
    """What a domain product's page shows: each TLD priced in the currency with its prices by years, and the years
    a client may choose (those of the TLD table, and those of the product's own pricing)."""

    tlds: list[tuple[Tld, list[TldPrice]]]
    years: list[int]


def domain_price_list(*, prices: list[ProductPricing], currency) -> DomainPriceList:
    tlds = tld_price_list(currency=currency)
    years = {price.years for _tld, tld_prices in tlds for price in tld_prices}
    years |= {_CYCLE_YEARS[price.billing_cycle] for price in prices if price.billing_cycle in _CYCLE_YEARS}
    return DomainPriceList(tlds=tlds, years=sorted(years))


@dataclass(frozen=True)
class CartLine:
    index: int
    product: Product
    domain: str
    period: str  # "Monthly", "2 years"
    due_today: object  # Decimal


def cart_lines(*, entries: list[dict], currency) -> list[CartLine]:
    """The cart with names and prices, for display only (checkout prices it again and may refuse it). An entry no
    longer for sale is left out. Four queries whatever the size of the cart."""
    ids = {entry.get("product_id") for entry in entries if isinstance(entry.get("product_id"), int)}
    products = {
        product.pk: product
        for product in Product.objects.filter(pk__in=ids, hidden=False, retired=False, group__hidden=False)
        .select_related("group")
        .prefetch_related(
            Prefetch("pricing", queryset=ProductPricing.objects.filter(currency=currency), to_attr="prices")
        )
    }
    names = {}
    for index, entry in enumerate(entries):
        product = products.get(entry.get("product_id"))
        if product is not None and product.type == Product.Type.DOMAIN:
            try:
                names[index] = normalize_domain_name(str(entry.get("domain", "")))
            except ValidationError:
                continue
    tlds = tlds_for_names(names=names.values(), currency=currency) if names else {}
    lines = []
    for index, entry in enumerate(entries):
        product = products.get(entry.get("product_id"))
        if product is None:
            continue
        by_cycle = {price.billing_cycle: price for price in product.prices}
        tld = tlds.get(names.get(index, ""))
        if product.type == Product.Type.DOMAIN:
            years = entry.get("years") or _CYCLE_YEARS.get(entry.get("billing_cycle"), 0)
            if tld is not None:
                price = tld.currency_prices.get(years) if tld.is_active else None
                amount = None
                if price is not None:
                    amount = price.transfer_price if entry.get("domain_action") == "transfer" else price.register_price
            else:
                cycle = next((c for c, y in _CYCLE_YEARS.items() if y == years), None)
                own = by_cycle.get(cycle)
                amount = own.price + own.setup_fee if own else None
            if amount is None:
                continue
            period = f"{years} year{'s' if years > 1 else ''}"
        else:
            own = by_cycle.get(entry.get("billing_cycle"))
            if own is None:
                continue
            amount, period = own.price + own.setup_fee, own.get_billing_cycle_display()
        lines.append(CartLine(index, product, str(entry.get("domain", "")), period, amount or ZERO))
    return lines


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

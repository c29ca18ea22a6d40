import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from billing.cycles import BillingCycle
from billing.models import Invoice, InvoiceItem
from notifications.bus import register, unregister
from notifications.models import ActivityLog, Event, HandlerRun
from orders.models import Order, OrderStatusChange, Promotion
from orders.services import CartItem, order_place
from provisioning.models import Domain, Service
from tests.factories import ClientFactory, CurrencyFactory, PricingFactory, ProductFactory

TODAY = datetime.date(2026, 11, 21)


def _counts():
    return (
        Order.objects.count(),
        Service.objects.count(),
        Domain.objects.count(),
        Invoice.objects.count(),
        InvoiceItem.objects.count(),
        Event.objects.count(),
    )


def test_placing_an_order_creates_pending_order_items_and_one_unpaid_invoice(customer, hosting, domain_product, place):
    order = place(
        customer,
        CartItem(product_id=hosting.pk, billing_cycle=BillingCycle.MONTHLY, domain="Shop.Example.com"),
        CartItem(product_id=domain_product.pk, billing_cycle=BillingCycle.BIENNIALLY, domain="shop-example.com"),
        ip_address="203.0.113.9",
        today=TODAY,
    )
    assert order.status == Order.Status.PENDING
    assert order.ip_address == "203.0.113.9"
    assert len(order.number) == 10
    service = order.services.get()
    assert (service.status, service.domain, service.billing_cycle) == (
        Service.Status.PENDING,
        "shop.example.com",
        "monthly",
    )
    assert (service.recurring_amount, service.first_payment_amount) == (Decimal("4.99"), Decimal("6.99"))
    domain = order.domains.get()
    assert (domain.status, domain.name, domain.registration_period) == (Domain.Status.PENDING, "shop-example.com", 2)

    invoice = order.invoice
    assert invoice.status == Invoice.Status.UNPAID
    lines = [(i.kind, i.amount, i.related_id, i.period_start, i.period_end) for i in invoice.items.order_by("id")]
    assert lines == [
        ("service", Decimal("4.99"), service.pk, TODAY, datetime.date(2026, 12, 20)),
        ("setup_fee", Decimal("2.00"), service.pk, TODAY, None),
        ("domain", Decimal("25.98"), domain.pk, TODAY, datetime.date(2028, 11, 20)),
    ]
    assert invoice.subtotal == invoice.total == order.total == Decimal("32.97")
    assert list(order.history.values_list("from_status", "to_status")) == [("", "pending")]


def test_order_created_and_invoice_created_are_emitted_after_commit(customer, hosting, place):
    seen = []

    def spy(event):
        seen.append((event.name, event.payload.get("order_id") or event.payload.get("invoice_id")))

    register("OrderCreated")(spy)
    register("InvoiceCreated")(spy)
    try:
        order = place(customer, CartItem(product_id=hosting.pk, billing_cycle="annually", domain="a.example.com"))
    finally:
        unregister("OrderCreated", spy)
        unregister("InvoiceCreated", spy)
    assert sorted(seen) == sorted([("OrderCreated", order.pk), ("InvoiceCreated", order.invoice_id)])
    assert HandlerRun.objects.filter(status="succeeded", handler__endswith=".spy").count() == 2


def test_a_failure_after_rows_were_written_rolls_everything_back(customer, django_capture_on_commit_callbacks):
    """The invoice refuses a price with more places than the currency has: by then the order, its service and
    the stock change are written, so only the transaction keeps them from staying."""
    yen = CurrencyFactory(code="JPY", prefix="¥", decimal_places=0)
    client = ClientFactory(currency=yen)
    product = ProductFactory(stock_control=True, stock_quantity=3)
    PricingFactory(product=product, currency=yen, price=Decimal("4.99"))
    before = _counts()
    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(ValidationError, match="decimal places"):
        order_place(client=client, actor=None, items=[CartItem(product_id=product.pk, billing_cycle="monthly")])
    assert _counts() == before
    product.refresh_from_db()
    assert product.stock_quantity == 3
    assert callbacks == []


def test_a_promotion_is_its_own_negative_line_and_counts_a_use(customer, hosting, place):
    promo = Promotion.objects.create(code="TENOFF", value=Decimal("10"))
    order = place(
        customer, CartItem(product_id=hosting.pk, billing_cycle="annually", domain="p.example.com"), promo_code="tenoff"
    )
    promo_line = order.invoice.items.get(kind=InvoiceItem.Kind.PROMOTION)
    assert promo_line.amount == Decimal("-4.99")
    assert "TENOFF" in promo_line.description
    assert order.invoice.total == Decimal("44.91")
    assert order.services.get().first_payment_amount == Decimal("44.91")
    promo.refresh_from_db()
    assert promo.uses == 1


def test_a_fixed_promotion_never_makes_a_line_negative(customer, hosting, usd, place):
    Promotion.objects.create(code="BIG", kind=Promotion.Kind.FIXED, value=Decimal("100"), currency=usd)
    order = place(
        customer, CartItem(product_id=hosting.pk, billing_cycle="monthly", domain="p.example.com"), promo_code="BIG"
    )
    assert order.invoice.items.get(kind=InvoiceItem.Kind.PROMOTION).amount == Decimal("-4.99")
    assert order.invoice.total == Decimal("2.00")  # the setup fee is not discounted


def test_stock_is_taken(customer, usd, place):
    vps = ProductFactory(stock_control=True, stock_quantity=2)
    PricingFactory(product=vps, currency=usd)
    place(
        customer,
        CartItem(product_id=vps.pk, billing_cycle="monthly"),
        CartItem(product_id=vps.pk, billing_cycle="monthly"),
    )
    vps.refresh_from_db()
    assert vps.stock_quantity == 0


@pytest.fixture
def sold_out(usd):
    product = ProductFactory(name="Sold out", stock_control=True, stock_quantity=0)
    PricingFactory(product=product, currency=usd)
    return product


@pytest.fixture
def retired(usd):
    product = ProductFactory(name="Old plan", retired=True)
    PricingFactory(product=product, currency=usd)
    return product


BAD_CARTS = {
    "empty cart": (lambda f: [], "cart is empty"),
    "unknown product": (lambda f: [CartItem(product_id=999_999, billing_cycle="monthly")], "not for sale"),
    "retired product": (lambda f: [CartItem(product_id=f["retired"].pk, billing_cycle="monthly")], "not for sale"),
    "cycle not sold": (
        lambda f: [CartItem(product_id=f["hosting"].pk, billing_cycle="quarterly", domain="a.example.com")],
        "not sold quarterly in USD",
    ),
    "not a cycle": (
        lambda f: [CartItem(product_id=f["hosting"].pk, billing_cycle="weekly", domain="a.example.com")],
        "is not a billing cycle",
    ),
    "out of stock": (lambda f: [CartItem(product_id=f["sold_out"].pk, billing_cycle="monthly")], "out of stock"),
    "invalid domain": (
        lambda f: [CartItem(product_id=f["domain_product"].pk, billing_cycle="annually", domain="-bad-.com")],
        "not a valid domain name",
    ),
    "domain without extension": (
        lambda f: [CartItem(product_id=f["domain_product"].pk, billing_cycle="annually", domain="localhost")],
        "not a valid domain name",
    ),
    "hosting without its domain": (
        lambda f: [CartItem(product_id=f["hosting"].pk, billing_cycle="monthly")],
        "Enter a domain name",
    ),
    "domain for a month": (
        lambda f: [CartItem(product_id=f["domain_product"].pk, billing_cycle="monthly", domain="x.com")],
        "not sold monthly",
    ),
    "same domain twice": (
        lambda f: [
            CartItem(product_id=f["domain_product"].pk, billing_cycle="annually", domain="x.com"),
            CartItem(product_id=f["domain_product"].pk, billing_cycle="annually", domain="X.com"),
        ],
        "in the cart twice",
    ),
    "unknown domain action": (
        lambda f: [
            CartItem(product_id=f["domain_product"].pk, billing_cycle="annually", domain="x.com", domain_action="steal")
        ],
        "register or to transfer",
    ),
}


@pytest.mark.parametrize("case", BAD_CARTS, ids=list(BAD_CARTS))
def test_bad_input_is_refused_with_a_clear_error_and_writes_nothing(
    case, customer, hosting, domain_product, sold_out, retired
):
    build, message = BAD_CARTS[case]
    fixtures = {"hosting": hosting, "domain_product": domain_product, "sold_out": sold_out, "retired": retired}
    before = _counts()
    with pytest.raises(ValidationError, match=message):
        order_place(client=customer, actor=None, items=build(fixtures))
    assert _counts() == before
    sold_out.refresh_from_db()
    assert sold_out.stock_quantity == 0


def test_an_inactive_client_cannot_order(customer, hosting):
    customer.deactivate()
    customer.save()
    before = _counts()
    with pytest.raises(ValidationError, match="only active clients can order"):
        order_place(
            client=customer,
            actor=None,
            items=[CartItem(product_id=hosting.pk, billing_cycle="monthly", domain="a.example.com")],
        )
    assert _counts() == before


def test_a_failure_late_in_checkout_rolls_back_stock_and_items(customer, usd, domain_product, place):
    vps = ProductFactory(stock_control=True, stock_quantity=5)
    PricingFactory(product=vps, currency=usd)
    place(customer, CartItem(product_id=domain_product.pk, billing_cycle="annually", domain="taken.com"))
    before = _counts()
    with pytest.raises(ValidationError, match="already ordered or registered"):
        order_place(
            client=customer,
            actor=None,
            items=[
                CartItem(product_id=vps.pk, billing_cycle="monthly"),
                CartItem(product_id=domain_product.pk, billing_cycle="annually", domain="taken.com"),
            ],
        )
    assert _counts() == before
    vps.refresh_from_db()
    assert vps.stock_quantity == 5


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("NOPE", "is not valid"),
        ("EXPIRED", "not valid today"),
        ("USEDUP", "used up"),
        ("EUROS", "not valid for orders in USD"),
        ("OTHERPRODUCT", "does not apply"),
    ],
)
def test_bad_promotion_codes_are_refused(code, message, customer, hosting):
    eur = CurrencyFactory(code="EUR")
    Promotion.objects.create(code="EXPIRED", value=Decimal("5"), valid_until=TODAY - datetime.timedelta(days=1))
    Promotion.objects.create(code="USEDUP", value=Decimal("5"), max_uses=1, uses=1)
    Promotion.objects.create(code="EUROS", kind=Promotion.Kind.FIXED, value=Decimal("5"), currency=eur)
    Promotion.objects.create(code="OTHERPRODUCT", value=Decimal("5")).products.add(ProductFactory())
    before = _counts()
    with pytest.raises(ValidationError, match=message):
        order_place(
            client=customer,
            actor=None,
            promo_code=code,
            today=TODAY,
            items=[CartItem(product_id=hosting.pk, billing_cycle="monthly", domain="a.example.com")],
        )
    assert _counts() == before


def test_prices_follow_the_clients_currency(hosting):
    eur = CurrencyFactory(code="EUR", prefix="€")
    PricingFactory(product=hosting, currency=eur, billing_cycle="monthly", price=Decimal("4.50"))
    client = ClientFactory(currency=eur)
    order = order_place(
        client=client,
        actor=None,
        items=[CartItem(product_id=hosting.pk, billing_cycle="monthly", domain="eu.example.com")],
    )
    assert (order.currency, order.invoice.currency, order.total) == (eur, eur, Decimal("4.50"))


def test_checkout_records_history_and_activity_with_the_actor(customer, hosting):
    order = order_place(
        client=customer,
        actor=customer.user,
        items=[CartItem(product_id=hosting.pk, billing_cycle="monthly", domain="a.example.com")],
    )
    change = OrderStatusChange.objects.get(order=order)
    assert change.actor == customer.user
    assert ActivityLog.objects.filter(
        action="order_placed", subject_id=order.pk, actor_label=customer.user.username
    ).exists()

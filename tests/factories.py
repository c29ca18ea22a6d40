"""Factories for the rows tests need. Invoices, payments and orders are made by the services that make them in
the portal (invoice_create, payment_record, order_place), so a test's invoice is numbered, taxed and totalled
as billing makes it; the catalog, clients, services and domains are plain rows."""

import datetime
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.test import TestCase
from django.utils import timezone

from billing.cycles import BillingCycle
from billing.models import Client, Currency, Invoice, InvoiceItem, Transaction
from billing.services import InvoiceLine, invoice_create, payment_record
from core import crypto
from orders.models import Order, Product, ProductGroup, ProductPricing
from orders.services import CartItem, order_place
from provisioning.models import AutoSetup, Domain, Server, ServerGroup, Service


class CurrencyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Currency
        django_get_or_create = ("code",)

    code = "USD"
    prefix = "$"


PASSWORD = "correct-horse-battery"  # every UserFactory user's


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}@example.com")
    email = factory.SelfAttribute("username")
    password = factory.django.Password(PASSWORD)


class ClientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Client

    user = factory.SubFactory(UserFactory)
    contact_name = factory.Sequence(lambda n: f"Client {n}")
    email = factory.SelfAttribute("user.email")
    country = "DE"
    currency = factory.SubFactory(CurrencyFactory)


class ProductGroupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProductGroup
        django_get_or_create = ("name",)

    name = "Hosting"


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    group = factory.SubFactory(ProductGroupFactory)
    name = factory.Sequence(lambda n: f"Product {n}")
    auto_setup = AutoSetup.ON_ACCEPT


class PricingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProductPricing

    product = factory.SubFactory(ProductFactory)
    currency = factory.SubFactory(CurrencyFactory)
    billing_cycle = BillingCycle.MONTHLY
    price = Decimal("10.00")
    setup_fee = Decimal("0.00")


class ServiceFactory(factory.django.DjangoModelFactory):
    """An active monthly service of a client's (give client and product); set status, domain, reason at will."""

    class Meta:
        model = Service

    client = factory.SubFactory(ClientFactory)
    product = factory.SubFactory(ProductFactory)
    currency = factory.SelfAttribute("client.currency")
    billing_cycle = BillingCycle.MONTHLY
    recurring_amount = Decimal("4.99")
    auto_setup = "never"
    status = Service.Status.ACTIVE


class DomainFactory(factory.django.DjangoModelFactory):
    """An active domain registered today for a year at 12.99 (give client; expiry_date and next_due_date default
    to the registration date a year on)."""

    class Meta:
        model = Domain

    client = factory.SubFactory(ClientFactory)
    name = factory.Sequence(lambda n: f"domain{n}.example")
    registration_type = Domain.RegistrationType.REGISTER
    registration_period = 1
    currency = factory.SelfAttribute("client.currency")
    recurring_amount = Decimal("12.99")
    first_payment_amount = Decimal("12.99")
    registration_date = factory.LazyFunction(timezone.localdate)
    expiry_date = factory.LazyAttribute(lambda d: d.registration_date.replace(year=d.registration_date.year + 1))
    next_due_date = factory.SelfAttribute("expiry_date")
    status = Domain.Status.ACTIVE


def _kind(line) -> str:
    if line.bills is None:
        return InvoiceItem.Kind.MANUAL
    return InvoiceItem.Kind.DOMAIN if isinstance(line.bills, Domain) else InvoiceItem.Kind.SERVICE


def _amount(line) -> Decimal:
    return Decimal("100.00") if line.bills is None else line.bills.recurring_amount


def _period_end(line) -> datetime.date | None:
    """A service's month or a domain's year from the line's period start, as renewal invoicing bills them."""
    if line.period_start is None:
        return None
    if line.kind == InvoiceItem.Kind.DOMAIN:
        return line.period_start.replace(year=line.period_start.year + 1) - datetime.timedelta(days=1)
    return line.period_start + datetime.timedelta(days=30)


class InvoiceLineFactory(factory.Factory):
    """One line as invoice_create takes it: a manual, untaxed line "Hosting" of 100.00. Give `bills=` a service
    or a domain for the line that bills its next period, as renewal invoicing writes it: its kind and id, its
    recurring amount, from its next due date (or `period_start`) for a month (a domain: a year)."""

    class Meta:
        model = InvoiceLine

    class Params:
        bills = None

    kind = factory.LazyAttribute(_kind)
    related_id = factory.LazyAttribute(lambda billing: billing.bills.pk if billing.bills is not None else None)
    description = factory.LazyAttribute(lambda billing: "Hosting" if billing.bills is None else str(billing.bills))
    amount = factory.LazyAttribute(_amount)
    taxed = False
    period_start = factory.LazyAttribute(lambda billing: None if billing.bills is None else billing.bills.next_due_date)
    period_end = factory.LazyAttribute(_period_end)


def _lines_of(invoice) -> list[InvoiceLine]:
    if invoice.bills:
        start = {"period_start": invoice.period_start} if invoice.period_start else {}
        return [InvoiceLineFactory(bills=billed, **start) for billed in invoice.bills]
    if not invoice.amounts:
        return [InvoiceLineFactory(taxed=invoice.taxed)]
    taxed = invoice.taxed if isinstance(invoice.taxed, tuple | list) else [invoice.taxed] * len(invoice.amounts)
    return [
        InvoiceLineFactory(description=f"Line {n}", amount=Decimal(amount), taxed=line_taxed)
        for n, (amount, line_taxed) in enumerate(zip(invoice.amounts, taxed, strict=True), start=1)
    ]


class InvoiceFactory(factory.django.DjangoModelFactory):
    """An Unpaid invoice made by invoice_create (numbered unless proforma, taxed by the tax rules, totalled,
    InvoiceCreated emitted after commit) with one InvoiceLineFactory line. Give `lines=[...]`, or `amounts=`
    for manual lines "Line 1", "Line 2", ... (`taxed`: True or False for all, or one flag per amount), or
    `bills=[...]` for a line billing each service's or domain's next period (from `period_start` if given);
    issue_date, due_date and status (Draft or Unpaid) as invoice_create takes them."""

    class Meta:
        model = Invoice

    class Params:
        amounts = ()
        taxed = False
        bills = ()
        period_start = None

    client = factory.SubFactory(ClientFactory)
    lines = factory.LazyAttribute(_lines_of)
    issue_date = None
    due_date = None
    status = Invoice.Status.UNPAID

    @classmethod
    def _create(cls, model_class, **fields):
        return invoice_create(actor=None, **fields)


class InvoiceItemFactory(factory.django.DjangoModelFactory):
    """A line written straight onto an invoice, past invoice_create and its totals: what an earlier run or
    another writer left there. A manual untaxed "Hosting" line of 100.00 unless told; `bills=` as for
    InvoiceLineFactory."""

    class Meta:
        model = InvoiceItem

    class Params:
        bills = None

    invoice = factory.SubFactory(InvoiceFactory)
    kind = factory.LazyAttribute(_kind)
    related_id = factory.LazyAttribute(lambda billing: billing.bills.pk if billing.bills is not None else None)
    description = factory.LazyAttribute(lambda billing: "Hosting" if billing.bills is None else str(billing.bills))
    amount = factory.LazyAttribute(_amount)
    taxed = False
    period_start = factory.LazyAttribute(lambda billing: None if billing.bills is None else billing.bills.next_due_date)
    period_end = factory.LazyAttribute(_period_end)


class TransactionFactory(factory.django.DjangoModelFactory):
    """A payment recorded by payment_record: by bank transfer, of what the invoice owes when it is recorded (so
    the invoice is Paid), paid now. Give amount, gateway, gateway_transaction_id, paid_at, fees at will."""

    class Meta:
        model = Transaction

    invoice = factory.SubFactory(InvoiceFactory)
    amount = None  # the invoice's balance due, read when the payment is recorded
    gateway = "banktransfer"
    gateway_transaction_id = ""

    @classmethod
    def _create(cls, model_class, *, invoice, amount, **fields):
        if amount is None:
            amount = Invoice.objects.values_list("balance_due", flat=True).get(pk=invoice.pk)
        return payment_record(invoice_id=invoice.pk, amount=Decimal(amount), actor=None, **fields).transaction


class OrderFactory(factory.django.DjangoModelFactory):
    """An order placed through checkout (order_place), its after-commit work run as a real commit would: the
    client's `items`, by default one `product` (a new one sold monthly in the client's currency unless given) on
    `billing_cycle` for `domain`. Give promo_code, ip_address or today as order_place takes them."""

    class Meta:
        model = Order

    class Params:
        product = factory.LazyAttribute(lambda order: PricingFactory(currency=order.client.currency).product)
        billing_cycle = BillingCycle.MONTHLY
        domain = ""

    client = factory.SubFactory(ClientFactory)
    items = factory.LazyAttribute(
        lambda order: [CartItem(product_id=order.product.pk, billing_cycle=order.billing_cycle, domain=order.domain)]
    )

    @classmethod
    def _create(cls, model_class, **fields):
        with TestCase.captureOnCommitCallbacks(execute=True):
            return order_place(actor=None, **fields)


def scripted_server(
    group: ServerGroup,
    name: str = "panel-1",
    *,
    max_accounts: int = 10,
    active: bool = True,
    module: str = "scripted",
    hostname: str = "",
) -> Server:
    """A server of `group` for the scripted test module (tests/module_package), its credentials encrypted as the
    admin saves them: the token the scripted module accepts."""
    server = Server.objects.create(
        name=name,
        hostname=hostname or f"{name}.example.net",
        module=module,
        max_accounts=max_accounts,
        is_active=active,
        credentials_token=crypto.encrypt_json({"api_token": "right-token"}),
    )
    server.groups.add(group)
    return server


def scripted_pending_service(
    client: Client, group: ServerGroup, *, product_name: str = "Panel hosting", **settings
) -> Service:
    """A Pending service of `client` for a product of the scripted module set up on `group`'s servers, with these
    module settings on both (fail, fail_times, sleep, return_username: see tests/module_package)."""
    product = ProductFactory(name=product_name, module="scripted", server_group=group, module_settings=settings)
    return ServiceFactory(
        client=client,
        product=product,
        module="scripted",
        module_settings=settings,
        status=Service.Status.PENDING,
        domain="shop.example.com",
    )


def tld_price_table(tld, currency, *, base: str, transfers: bool = True, years=range(1, 11)) -> None:
    """A TLD's prices in a currency: register base x years, transfer one less (none when transfers is False),
    renew one more."""
    from provisioning.models import TldPrice

    unit = Decimal(base)
    TldPrice.objects.bulk_create(
        TldPrice(
            tld=tld,
            currency=currency,
            years=n,
            register_price=unit * n,
            transfer_price=unit * n - 1 if transfers else None,
            renew_price=unit * n + 1,
        )
        for n in years
    )

from decimal import Decimal

import factory
from django.contrib.auth import get_user_model

from billing.cycles import BillingCycle
from billing.models import Client, Currency
from orders.models import Product, ProductGroup, ProductPricing
from provisioning.models import AutoSetup, Domain, Service


class CurrencyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Currency
        django_get_or_create = ("code",)

    code = "USD"
    prefix = "$"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}@example.com")
    email = factory.SelfAttribute("username")
    password = factory.django.Password("correct-horse-battery")


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
    """An active domain registered for a year at 12.99 (give client; expiry_date and next_due_date default to
    the registration date a year on)."""

    class Meta:
        model = Domain

    client = factory.SubFactory(ClientFactory)
    name = factory.Sequence(lambda n: f"domain{n}.example")
    registration_type = Domain.RegistrationType.REGISTER
    registration_period = 1
    currency = factory.SelfAttribute("client.currency")
    recurring_amount = Decimal("12.99")
    first_payment_amount = Decimal("12.99")
    registration_date = None
    expiry_date = factory.LazyAttribute(
        lambda d: d.registration_date.replace(year=d.registration_date.year + 1) if d.registration_date else None
    )
    next_due_date = factory.SelfAttribute("expiry_date")
    status = Domain.Status.ACTIVE

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django_fsm import FSMField, FSMModelMixin, transition

from billing.cycles import BillingCycle
from billing.money import MoneyField
from notifications.emails.catalog import welcome_template_validate
from provisioning.models import AutoSetup


class ProductGroup(models.Model):
    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    sort_order = models.PositiveIntegerField(default=0)
    hidden = models.BooleanField(default=False)

    class Meta:
        ordering = ["sort_order", "name"]

    def __str__(self) -> str:
        return self.name


class Product(models.Model):
    class Type(models.TextChoices):
        HOSTING = "hosting", "Shared hosting"
        SERVER = "server", "Server / VPS"
        OTHER = "other", "Other"
        DOMAIN = "domain", "Domain"

    group = models.ForeignKey(ProductGroup, on_delete=models.PROTECT, related_name="products")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    type = models.CharField(max_length=16, choices=Type.choices, default=Type.HOSTING)
    module = models.CharField(max_length=64, blank=True, help_text="Provisioning or registrar module name.")
    module_settings = models.JSONField(default=dict, blank=True)
    server_group = models.ForeignKey(
        "provisioning.ServerGroup", null=True, blank=True, on_delete=models.SET_NULL, related_name="products"
    )
    auto_setup = models.CharField(max_length=16, choices=AutoSetup.choices, default=AutoSetup.ON_ACCEPT)
    requires_domain = models.BooleanField(default=False, help_text="The client names a domain for this service.")
    stock_control = models.BooleanField(default=False)
    stock_quantity = models.PositiveIntegerField(default=0)
    taxable = models.BooleanField(default=True, help_text="Taxes apply to this product and its setup fee.")
    hidden = models.BooleanField(default=False)
    retired = models.BooleanField(default=False, help_text="No longer sold; existing services keep working.")
    sort_order = models.PositiveIntegerField(default=0)
    welcome_email_template = models.CharField(
        max_length=64,
        blank=True,
        validators=[welcome_template_validate],
        help_text="The email template a new service of this product is welcomed with (blank: service_welcome).",
    )

    class Meta:
        ordering = ["group__sort_order", "sort_order", "name"]

    def __str__(self) -> str:
        return self.name


class ProductPricing(models.Model):
    """The price and setup fee of a product for one billing cycle in one currency. No row: not sold so."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="pricing")
    currency = models.ForeignKey("billing.Currency", on_delete=models.PROTECT, related_name="+")
    billing_cycle = models.CharField(max_length=16, choices=BillingCycle.choices)
    price = MoneyField(validators=[MinValueValidator(Decimal("0"))])
    setup_fee = MoneyField(validators=[MinValueValidator(Decimal("0"))])

    class Meta:
        verbose_name_plural = "product pricing"
        constraints = [
            models.UniqueConstraint(fields=["product", "currency", "billing_cycle"], name="orders_one_price_per_cycle"),
            models.CheckConstraint(condition=Q(price__gte=0, setup_fee__gte=0), name="orders_pricing_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.product} {self.get_billing_cycle_display()} {self.currency}"


class Promotion(models.Model):
    class Kind(models.TextChoices):
        PERCENT = "percent", "Percentage"
        FIXED = "fixed", "Fixed amount"

    code = models.CharField(max_length=64, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.PERCENT)
    value = models.DecimalField(max_digits=12, decimal_places=2, validators=[MinValueValidator(Decimal("0"))])
    currency = models.ForeignKey(
        "billing.Currency",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Required for fixed amounts: the discount applies only to orders in this currency.",
    )
    products = models.ManyToManyField(Product, blank=True, help_text="None selected: every product.")
    valid_from = models.DateField(null=True, blank=True)
    valid_until = models.DateField(null=True, blank=True)
    max_uses = models.PositiveIntegerField(default=0, help_text="0 means unlimited.")
    uses = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(kind="percent") | Q(value__lte=100), name="orders_promo_percent_at_most_100"
            ),
            models.CheckConstraint(
                condition=~Q(kind="fixed") | Q(currency__isnull=False), name="orders_promo_fixed_has_currency"
            ),
        ]

    def __str__(self) -> str:
        return self.code


class Order(FSMModelMixin, models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        ACTIVE = "active", "Active"
        CANCELLED = "cancelled", "Cancelled"
        FRAUD = "fraud", "Fraud"

    number = models.CharField(max_length=20, unique=True)
    client = models.ForeignKey("billing.Client", on_delete=models.PROTECT, related_name="orders")
    currency = models.ForeignKey("billing.Currency", on_delete=models.PROTECT, related_name="+")
    status = FSMField(default=Status.PENDING, choices=Status.choices, protected=True)
    ip_address = models.GenericIPAddressField("IP address", null=True, blank=True)
    promo_code = models.CharField(max_length=64, blank=True)
    total = MoneyField()
    invoice = models.OneToOneField(
        "billing.Invoice", null=True, blank=True, on_delete=models.SET_NULL, related_name="order"
    )
    fraud_score = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))],
        help_text="Score of the last fraud check (0-100); empty when the check did not run or failed.",
    )
    fraud_result = models.JSONField(default=dict, blank=True)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "-created_at"]), models.Index(fields=["ip_address"])]

    def __str__(self) -> str:
        return f"Order {self.number}"

    @transition(field=status, source=Status.PENDING, target=Status.ACTIVE)
    def accept(self) -> None:
        pass

    @transition(field=status, source=[Status.PENDING, Status.ACTIVE], target=Status.CANCELLED)
    def cancel(self) -> None:
        pass

    @transition(field=status, source=Status.PENDING, target=Status.FRAUD)
    def mark_fraud(self) -> None:
        pass

    @transition(field=status, source=[Status.FRAUD, Status.CANCELLED], target=Status.PENDING)
    def set_pending(self) -> None:
        pass


class OrderStatusChange(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="history")
    from_status = models.CharField(max_length=16, blank=True)
    to_status = models.CharField(max_length=16)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=150)
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.from_status or '—'} → {self.to_status} by {self.actor_label}"

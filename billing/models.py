from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django_fsm import FSMField, FSMModelMixin, transition

from billing.money import MONEY_DECIMAL_PLACES, MoneyField, quantize


class Currency(models.Model):
    code = models.CharField(
        max_length=3, unique=True, validators=[RegexValidator(r"^[A-Z]{3}$", "Use the ISO 4217 code, e.g. USD.")]
    )
    prefix = models.CharField(max_length=8, blank=True, help_text="Shown before amounts, e.g. $")
    suffix = models.CharField(max_length=8, blank=True, help_text="Shown after amounts, e.g. USD")
    decimal_places = models.PositiveSmallIntegerField(default=2, validators=[MaxValueValidator(MONEY_DECIMAL_PLACES)])
    exchange_rate = models.DecimalField(
        max_digits=18,
        decimal_places=8,
        default=Decimal("1"),
        validators=[MinValueValidator(Decimal("0.00000001"))],
        help_text="Units of this currency for one unit of the default currency.",
    )
    is_default = models.BooleanField(default=False)

    class Meta:
        verbose_name_plural = "currencies"
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"], condition=Q(is_default=True), name="billing_one_default_currency"
            ),
        ]

    def __str__(self) -> str:
        return self.code

    def quantize(self, amount: Decimal) -> Decimal:
        return quantize(amount, self.decimal_places)

    def format(self, amount: Decimal) -> str:
        text = f"{self.quantize(amount):,.{self.decimal_places}f}"
        return f"{self.prefix}{text}{' ' + self.suffix if self.suffix else ''}"


class Client(FSMModelMixin, models.Model):
    """The billing account. A client may log in to the client area through its linked user."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        INACTIVE = "inactive", "Inactive"
        CLOSED = "closed", "Closed"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="client"
    )
    company_name = models.CharField(max_length=200, blank=True)
    contact_name = models.CharField(max_length=200)
    email = models.EmailField(db_index=True)
    address_1 = models.CharField(max_length=200, blank=True)
    address_2 = models.CharField(max_length=200, blank=True)
    city = models.CharField(max_length=100, blank=True)
    state = models.CharField(max_length=100, blank=True)
    postcode = models.CharField(max_length=20, blank=True)
    country = models.CharField(
        max_length=2, validators=[RegexValidator(r"^[A-Z]{2}$", "Use the ISO 3166 code, e.g. DE.")]
    )
    phone = models.CharField(max_length=40, blank=True)
    currency = models.ForeignKey(Currency, on_delete=models.PROTECT, related_name="+")
    credit_balance = MoneyField(validators=[MinValueValidator(Decimal("0"))])
    tax_exempt = models.BooleanField(default=False)
    status = FSMField(default=Status.ACTIVE, choices=Status.choices, protected=True)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["contact_name", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(credit_balance__gte=0), name="billing_client_credit_not_negative")
        ]

    def __str__(self) -> str:
        return f"{self.contact_name} ({self.company_name})" if self.company_name else self.contact_name

    @transition(field=status, source=Status.ACTIVE, target=Status.INACTIVE)
    def deactivate(self) -> None:
        pass

    @transition(field=status, source=[Status.INACTIVE, Status.CLOSED], target=Status.ACTIVE)
    def activate(self) -> None:
        pass

    @transition(field=status, source=[Status.ACTIVE, Status.INACTIVE], target=Status.CLOSED)
    def close(self) -> None:
        pass


class Invoice(FSMModelMixin, models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        UNPAID = "unpaid", "Unpaid"
        PAID = "paid", "Paid"
        CANCELLED = "cancelled", "Cancelled"
        REFUNDED = "refunded", "Refunded"
        COLLECTIONS = "collections", "Collections"

    number = models.CharField(
        max_length=64, null=True, blank=True, unique=True, help_text="Given when the invoice leaves Draft."
    )
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="invoices")
    currency = models.ForeignKey(Currency, on_delete=models.PROTECT, related_name="+")
    status = FSMField(default=Status.DRAFT, choices=Status.choices, protected=True)
    date = models.DateField(help_text="Issue date.")
    due_date = models.DateField()
    paid_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True, help_text="First time the invoice was sent to the client.")
    subtotal = MoneyField()
    tax_1 = MoneyField()
    tax_2 = MoneyField()
    credit_applied = MoneyField()
    total = MoneyField()
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-date", "-id"]
        indexes = [
            models.Index(fields=["client", "status"]),
            models.Index(fields=["status", "due_date"]),
        ]

    def __str__(self) -> str:
        return f"Invoice {self.number or f'#{self.pk}'}"

    def not_sent(self) -> bool:
        return self.sent_at is None

    @transition(field=status, source=Status.DRAFT, target=Status.UNPAID)
    def publish(self) -> None:
        pass

    @transition(field=status, source=Status.UNPAID, target=Status.DRAFT, conditions=[not_sent])
    def return_to_draft(self) -> None:
        pass

    @transition(field=status, source=[Status.UNPAID, Status.COLLECTIONS], target=Status.PAID)
    def mark_paid(self, *, at) -> None:
        self.paid_at = at

    @transition(field=status, source=[Status.DRAFT, Status.UNPAID], target=Status.CANCELLED)
    def cancel(self) -> None:
        pass

    @transition(field=status, source=Status.CANCELLED, target=Status.UNPAID)
    def reopen(self) -> None:
        pass

    @transition(field=status, source=Status.UNPAID, target=Status.COLLECTIONS)
    def send_to_collections(self) -> None:
        pass

    @transition(field=status, source=Status.PAID, target=Status.REFUNDED)
    def refund(self) -> None:
        pass


class InvoiceItem(models.Model):
    class Kind(models.TextChoices):
        SERVICE = "service", "Service"
        SETUP_FEE = "setup_fee", "Setup fee"
        DOMAIN = "domain", "Domain"
        DOMAIN_SETUP_FEE = "domain_setup_fee", "Domain setup fee"
        PROMOTION = "promotion", "Promotion"
        LATE_FEE = "late_fee", "Late fee"
        MANUAL = "manual", "Manual"

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="items")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    # What the line bills for (a service or domain id, by kind). Named, not linked: billing sits below them.
    related_id = models.BigIntegerField(null=True, blank=True)
    description = models.CharField(max_length=500)
    amount = MoneyField()
    taxed = models.BooleanField(default=False)
    period_start = models.DateField(null=True, blank=True)
    period_end = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            # Exactly once: a service or domain is billed at most once for a given period.
            models.UniqueConstraint(
                fields=["kind", "related_id", "period_start"],
                condition=Q(related_id__isnull=False, period_start__isnull=False),
                name="billing_item_once_per_period",
            ),
        ]
        indexes = [models.Index(fields=["kind", "related_id"])]

    def __str__(self) -> str:
        return self.description


class Transaction(models.Model):
    """Every movement of money. (gateway, gateway transaction id) is unique: a payment is recorded once."""

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="transactions")
    invoice = models.ForeignKey(Invoice, null=True, blank=True, on_delete=models.PROTECT, related_name="transactions")
    currency = models.ForeignKey(Currency, on_delete=models.PROTECT, related_name="+")
    gateway = models.CharField(max_length=64)
    gateway_transaction_id = models.CharField(max_length=200, blank=True)
    date = models.DateTimeField(default=timezone.now)
    description = models.CharField(max_length=500, blank=True)
    amount_in = MoneyField(validators=[MinValueValidator(Decimal("0"))])
    amount_out = MoneyField(validators=[MinValueValidator(Decimal("0"))])
    fees = MoneyField(validators=[MinValueValidator(Decimal("0"))])

    class Meta:
        ordering = ["-date", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["gateway", "gateway_transaction_id"],
                condition=~Q(gateway_transaction_id=""),
                name="billing_payment_recorded_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.gateway} {self.gateway_transaction_id or self.pk}"

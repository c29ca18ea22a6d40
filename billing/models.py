from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django_fsm import FSMField, FSMModelMixin, transition

# The automation settings' defaults, re-exported: billing's migration 0005 (the settings' table) names them here.
from automation.models import default_domain_renewal_notice_days, default_reminder_levels  # noqa: F401
from billing.gateway_models import GatewayConfig, GatewayEvent  # noqa: F401 - billing's models, kept apart
from billing.money import MONEY_DECIMAL_PLACES, MoneyField, format_money, format_rate, quantize


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
        return format_money(amount, self)


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

    # Still open to change: lines can be added or withdrawn, and it can be cancelled.
    OPEN_STATUSES = (Status.DRAFT, Status.UNPAID)

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
    total = MoneyField(help_text="Subtotal + taxes - credit applied.")
    amount_paid = MoneyField(help_text="Received through gateways towards the total (excess goes to credit).")
    amount_refunded = MoneyField()
    balance_due = MoneyField(help_text="Total - amount paid; what the client still owes.")
    # The tax the invoice was computed with, kept so that later rule changes never alter an issued invoice.
    tax_1_name = models.CharField(max_length=100, blank=True)
    tax_1_rate = models.DecimalField(max_digits=7, decimal_places=4, default=Decimal("0"))
    tax_2_name = models.CharField(max_length=100, blank=True)
    tax_2_rate = models.DecimalField(max_digits=7, decimal_places=4, default=Decimal("0"))
    tax_compound = models.BooleanField(default=False)
    prices_include_tax = models.BooleanField(default=False)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-date", "-id"]
        indexes = [
            models.Index(fields=["client", "status"]),
            models.Index(fields=["client", "-date", "-id"], name="billing_inv_client_date"),
            models.Index(fields=["status", "due_date"]),
            models.Index(fields=["-date", "-id"], name="billing_inv_date"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(subtotal__gte=0, tax_1__gte=0, tax_2__gte=0, credit_applied__gte=0, total__gte=0)
                & Q(amount_paid__gte=0, amount_refunded__gte=0, balance_due__gte=0),
                name="billing_invoice_amounts_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"Invoice {self.number or f'#{self.pk}'}"

    PAYABLE_STATUSES = (Status.UNPAID, Status.COLLECTIONS)

    @property
    def display_number(self) -> str:
        """The number, or what the invoice is until it has one."""
        if self.number:
            return self.number
        return f"{'Draft' if self.status == self.Status.DRAFT else 'Proforma'} #{self.pk}"

    def not_sent(self) -> bool:
        return self.sent_at is None

    @property
    def is_payable(self) -> bool:
        return self.status in self.PAYABLE_STATUSES and self.balance_due > 0

    @property
    def refundable(self) -> Decimal:
        """What went into this invoice (payments and credit) and has not gone back yet."""
        return self.amount_paid + self.credit_applied - self.amount_refunded

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
        # A domain renewed late (provisioning.services.domain_fees): related_id the domain, period_start the
        # renewal period's, so billing_item_once_per_period makes each fee once per domain and period.
        DOMAIN_GRACE_FEE = "grace_fee", "Domain grace period fee"
        DOMAIN_REDEMPTION_FEE = "redemption_fee", "Domain redemption fee"
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
            # Exactly once: a service or domain is billed at most once for a given period (and a domain's grace or
            # redemption fee added once to that period's renewal).
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
    """Every movement of money or credit. (gateway, gateway transaction id) is unique: a payment is recorded once.

    `amount_in` is money received, `amount_out` money sent back; `credit_change` is what the movement did to
    the client's credit balance, so the sum of a client's `credit_change` always equals its `credit_balance`.
    """

    class Kind(models.TextChoices):
        PAYMENT = "payment", "Payment"
        REFUND = "refund", "Refund"
        CREDIT_ADDED = "credit_added", "Credit added"
        CREDIT_REMOVED = "credit_removed", "Credit removed"
        CREDIT_APPLIED = "credit_applied", "Credit applied"

    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.PAYMENT)
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="transactions")
    invoice = models.ForeignKey(Invoice, null=True, blank=True, on_delete=models.PROTECT, related_name="transactions")
    refund_of = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="refunds",
        help_text="The payment refunded.",
    )
    currency = models.ForeignKey(Currency, on_delete=models.PROTECT, related_name="+")
    gateway = models.CharField(max_length=64)
    gateway_transaction_id = models.CharField(max_length=200, blank=True)
    date = models.DateTimeField(default=timezone.now)
    description = models.CharField(max_length=500, blank=True)
    amount_in = MoneyField(validators=[MinValueValidator(Decimal("0"))])
    amount_out = MoneyField(validators=[MinValueValidator(Decimal("0"))])
    fees = MoneyField(validators=[MinValueValidator(Decimal("0"))])
    credit_change = MoneyField(help_text="Effect on the client's credit balance (+ added, - used or removed).")
    actor_label = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-date", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["gateway", "gateway_transaction_id"],
                condition=~Q(gateway_transaction_id=""),
                name="billing_payment_recorded_once",
            ),
            models.CheckConstraint(
                condition=Q(amount_in__gte=0, amount_out__gte=0, fees__gte=0), name="billing_tx_amounts_not_negative"
            ),
        ]
        indexes = [
            models.Index(fields=["client", "-date"], name="billing_tx_client_date"),
            models.Index(fields=["-date", "-id"], name="billing_tx_date"),
            models.Index(fields=["gateway_transaction_id"], name="billing_tx_gateway_tx_id"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.gateway} {self.gateway_transaction_id or self.pk}"

    @property
    def amount(self) -> Decimal:
        """Signed: a refund is a negative transaction."""
        return self.amount_in - self.amount_out


class BillingSettings(models.Model):
    """The billing settings an admin edits: one row (pk=1), read with BillingSettings.load()."""

    invoice_number_format = models.CharField(
        max_length=64,
        default="INV-{YEAR}-{SEQ:06}",
        help_text="Placeholders: {YEAR}, {MONTH}, {SEQ} or {SEQ:06} (zero-padded). With {YEAR} the sequence "
        "starts again at 1 each year, with {MONTH} each month.",
    )
    number_on_payment = models.BooleanField(
        default=False,
        help_text="Proforma invoices: an unpaid invoice has no number; it gets one when it is paid.",
    )
    taxes_enabled = models.BooleanField(default=True)
    prices_include_tax = models.BooleanField(default=False, help_text="Catalog prices already include tax.")
    compound_tax = models.BooleanField(default=False, help_text="Level 2 tax is charged on the amount plus level 1.")
    auto_apply_credit = models.BooleanField(
        default=False, help_text="Apply a client's credit balance to each new invoice automatically."
    )
    bank_transfer_instructions = models.TextField(
        blank=True,
        default="Please transfer the amount due to our bank account and quote the invoice number as reference.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = verbose_name_plural = "billing settings"

    def __str__(self) -> str:
        return "Billing settings"

    @classmethod
    def load(cls) -> "BillingSettings":
        return cls.objects.get_or_create(pk=1)[0]


class InvoiceNumberCounter(models.Model):
    """The last number given in a scope ("all", a year or a month). Locked while a number is taken, so numbers
    are gapless: a rolled-back invoice gives its number back with the rest of the transaction."""

    scope = models.CharField(max_length=16, unique=True)
    last_value = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.scope}: {self.last_value}"


class TaxRule(models.Model):
    """A tax rate for a country (and a state/region where set). The most specific rule of each level wins:
    country + state, then country, then a rule with no country (everywhere)."""

    class Level(models.IntegerChoices):
        ONE = 1, "Level 1"
        TWO = 2, "Level 2"

    level = models.PositiveSmallIntegerField(choices=Level.choices, default=Level.ONE)
    name = models.CharField(max_length=100, help_text="Shown on invoices, e.g. VAT.")
    country = models.CharField(
        max_length=2,
        blank=True,
        validators=[RegexValidator(r"^[A-Z]{2}$", "Use the ISO 3166 code, e.g. DE.")],
        help_text="Blank: every country.",
    )
    state = models.CharField(max_length=100, blank=True, help_text="Blank: the whole country.")
    rate = models.DecimalField(
        max_digits=7,
        decimal_places=4,
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))],
        help_text="Percent, e.g. 19.",
    )

    class Meta:
        ordering = ["level", "country", "state"]
        constraints = [
            models.UniqueConstraint(fields=["level", "country", "state"], name="billing_one_tax_rule_per_place"),
            models.CheckConstraint(condition=Q(rate__gte=0, rate__lte=100), name="billing_tax_rate_percent"),
        ]

    def __str__(self) -> str:
        place = "/".join(part for part in (self.country, self.state) if part) or "everywhere"
        return f"{self.name} {format_rate(self.rate)} ({place}, level {self.level})"


class InvoicePdf(models.Model):
    """The rendered PDF of an invoice in one state. The key covers everything the PDF shows, so a stale
    document is never served: a new state renders once and replaces the old one."""

    invoice = models.OneToOneField(Invoice, on_delete=models.CASCADE, related_name="pdf")
    state_key = models.CharField(max_length=64)
    content = models.BinaryField()
    rendered_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"PDF of {self.invoice_id} ({self.state_key[:8]})"


class InvoiceReminder(models.Model):
    """A payment reminder level an invoice reached, handled once: sent, or skipped because a run found a later
    level reached too and sent only that one. (invoice, level days) is unique: no level is handled twice."""

    # No index of its own: the unique (invoice, level_days) key starts with it.
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="reminders", db_index=False)
    level_days = models.IntegerField(help_text="The level: days before (negative), on (0) or after the due date.")
    template = models.CharField(max_length=64, help_text="The email template of the level.")
    sent_on = models.DateField(help_text="The date of the run that sent (or skipped) it.")
    skipped = models.BooleanField(default=False, help_text="Not sent: a later level was reached at the same time.")

    class Meta:
        ordering = ["invoice_id", "level_days"]
        constraints = [
            models.UniqueConstraint(fields=["invoice", "level_days"], name="billing_reminder_once_per_level"),
        ]

    def __str__(self) -> str:
        return f"{self.template} for invoice #{self.invoice_id}{' (skipped)' if self.skipped else ''}"


class LateFee(models.Model):
    """A late fee added to an overdue invoice (as one of its lines). (invoice, sequence) is unique: the n-th fee
    of an invoice is added once, however often the run repeats."""

    # No index of its own: the unique (invoice, sequence) key starts with it.
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="late_fees", db_index=False)
    sequence = models.PositiveSmallIntegerField(help_text="1 for the invoice's first late fee, 2 for the next, ...")
    amount = MoneyField(help_text="In the invoice's currency.")
    applied_on = models.DateField(help_text="The date of the run that added it.")

    class Meta:
        ordering = ["invoice_id", "sequence"]
        constraints = [
            models.UniqueConstraint(fields=["invoice", "sequence"], name="billing_late_fee_once_per_sequence"),
            models.CheckConstraint(condition=Q(amount__gt=0, sequence__gte=1), name="billing_late_fee_positive"),
        ]

    def __str__(self) -> str:
        return f"Late fee {self.sequence} on invoice #{self.invoice_id}"

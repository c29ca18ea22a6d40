"""What the portal sells domains under: the extensions (Tld) with the registrar that serves each, their prices per
currency and number of years (TldPrice), the fees for bringing back an expired domain (TldFees), and each
registrar's configured settings (RegistrarConfig, secrets encrypted). Checkout prices a domain from these
(docs/DOMAINS.md)."""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower

from billing.money import MoneyField

MAX_YEARS = 10
# The longest grace or redemption period a TLD may have, in days: registries keep them to weeks (most gTLDs: 30 to
# 45 days of grace, 30 of redemption); a year catches a typo without refusing an unusual registry.
MAX_PERIOD_DAYS = 365
NOT_NEGATIVE = [MinValueValidator(Decimal("0"))]

# An extension as registries list it: labels of letters, digits and hyphens, IDNs as their A-label (xn--).
_EXTENSION = RegexValidator(
    r"^(?:(?!-)[a-z0-9-]{1,63}(?<!-)\.)*(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$",
    "Lower case, without the leading dot, an IDN as its A-label: com, co.uk, xn--p1ai.",
)


class Tld(models.Model):
    """A domain extension the portal sells, and how its domains are handled."""

    class RegisterWhen(models.TextChoices):
        """When a paid-for domain is sent to its registrar."""

        ON_PAYMENT = "payment", "When the first payment is received"
        ON_ACCEPT = "accept", "When an admin accepts the order"
        BY_HAND = "manual", "Only when an admin sends it"

    extension = models.CharField(
        max_length=63, unique=True, validators=[_EXTENSION], help_text="Without the leading dot: com, co.uk."
    )
    registrar = models.CharField(max_length=64, help_text="The registrar that registers, renews and checks its names.")
    register_when = models.CharField(max_length=16, choices=RegisterWhen.choices, default=RegisterWhen.ON_ACCEPT)
    auto_renew_default = models.BooleanField(default=True, help_text="New domains of this extension renew by default.")
    epp_code_required = models.BooleanField(default=True, help_text="A transfer in asks the client for the EPP code.")
    is_active = models.BooleanField(default=True, help_text="Inactive: not sold; existing domains keep working.")
    grace_period_days = models.PositiveSmallIntegerField(
        default=30,
        validators=[MaxValueValidator(MAX_PERIOD_DAYS)],
        help_text="Days after expiry the domain can still be renewed (with the grace fee, if one is set). 0: none.",
    )
    redemption_period_days = models.PositiveSmallIntegerField(
        default=30,
        validators=[MaxValueValidator(MAX_PERIOD_DAYS)],
        help_text="Days after the grace period the registry can still restore it (with the redemption fee, if one "
        "is set). 0: none.",
    )

    class Meta:
        verbose_name = "TLD"
        verbose_name_plural = "TLDs"
        ordering = ["extension"]
        constraints = [
            # The form's validator says why; this keeps a row written around it from ever matching no name.
            models.CheckConstraint(
                condition=Q(extension=Lower("extension")) & ~Q(extension__startswith="."),
                name="provisioning_tld_lower_case_no_dot",
            ),
            models.CheckConstraint(
                condition=Q(grace_period_days__lte=MAX_PERIOD_DAYS, redemption_period_days__lte=MAX_PERIOD_DAYS),
                name="provisioning_tld_periods_at_most_a_year",
            ),
        ]

    def __str__(self) -> str:
        return f".{self.extension}"


class TldPrice(models.Model):
    """The prices of a TLD's domains for a number of years in one currency. No row: not sold for so many years in
    that currency. No transfer price: transfers in are not offered for them."""

    tld = models.ForeignKey(Tld, on_delete=models.CASCADE, related_name="prices")
    currency = models.ForeignKey("billing.Currency", on_delete=models.PROTECT, related_name="+")
    years = models.PositiveSmallIntegerField(validators=[MinValueValidator(1), MaxValueValidator(MAX_YEARS)])
    register_price = MoneyField(validators=NOT_NEGATIVE)
    transfer_price = MoneyField(null=True, blank=True, validators=NOT_NEGATIVE, help_text="Empty: no transfers in.")
    renew_price = MoneyField(validators=NOT_NEGATIVE)

    class Meta:
        verbose_name = "TLD price"
        ordering = ["tld", "currency", "years"]
        constraints = [
            models.UniqueConstraint(fields=["tld", "currency", "years"], name="provisioning_tld_one_price_per_years"),
            models.CheckConstraint(condition=Q(years__gte=1, years__lte=MAX_YEARS), name="provisioning_tld_years_1_10"),
            models.CheckConstraint(
                condition=Q(register_price__gte=0, renew_price__gte=0)
                & (Q(transfer_price__isnull=True) | Q(transfer_price__gte=0)),
                name="provisioning_tld_price_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.tld} {self.years} year{'s' if self.years > 1 else ''} {self.currency_id and self.currency}"


class TldFees(models.Model):
    """What bringing back an expired domain costs on top of its renewal, per TLD and currency: in the grace period
    (after expiry, still renewable) and in redemption (deleted, restorable). Empty or 0: not charged. The run's
    domain_grace_fees step adds them to the domain's unpaid renewal invoice (provisioning.services.domain_fees)."""

    tld = models.ForeignKey(Tld, on_delete=models.CASCADE, related_name="fees")
    currency = models.ForeignKey("billing.Currency", on_delete=models.PROTECT, related_name="+")
    grace_fee = MoneyField(null=True, blank=True, validators=NOT_NEGATIVE)
    redemption_fee = MoneyField(null=True, blank=True, validators=NOT_NEGATIVE)

    class Meta:
        verbose_name = "TLD grace and redemption fees"
        verbose_name_plural = "TLD grace and redemption fees"
        constraints = [
            models.UniqueConstraint(fields=["tld", "currency"], name="provisioning_tld_one_fees_per_currency"),
            models.CheckConstraint(
                condition=(Q(grace_fee__isnull=True) | Q(grace_fee__gte=0))
                & (Q(redemption_fee__isnull=True) | Q(redemption_fee__gte=0)),
                name="provisioning_tld_fees_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.tld} fees in {self.currency_id and self.currency}"


class RegistrarConfig(models.Model):
    """A registrar's configured settings (its declared `settings`): the secret ones encrypted in credentials_token
    (core.crypto), never rendered back; the others in `settings`. Inactive: the portal asks it nothing."""

    name = models.CharField(max_length=64, unique=True, help_text="The registrar's name in the registry.")
    settings = models.JSONField(default=dict, blank=True)
    credentials_token = models.TextField(blank=True, editable=False)
    is_active = models.BooleanField(default=True)

    class Meta:
        verbose_name = "registrar configuration"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

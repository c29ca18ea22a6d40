import re
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from fraud import defaults
from fraud.countries import COUNTRY_NAMES
from fraud.engine import DEFAULT_NEW_CLIENT_MAX_AGE_DAYS, DEFAULT_THRESHOLD, RULES

SETTINGS_ROW_ID = 1
_LIST_SEPARATORS = re.compile(r"[\s,;]+")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$")


def split_list(text: str) -> list[str]:
    """Entries of an admin-edited list: one per line, or separated by commas, semicolons or spaces."""
    return [entry for entry in _LIST_SEPARATORS.split(text.strip()) if entry]


class FraudSettings(models.Model):
    """The fraud check's settings: one row (id 1), created by the migrations, edited in the admin."""

    threshold = models.PositiveSmallIntegerField(
        default=DEFAULT_THRESHOLD,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text="An order whose score is at or above this goes straight to Fraud (1 to 100).",
    )
    skip_for_clients_with_active_service = models.BooleanField(
        "skip for clients with an active service",
        default=False,
        help_text="Do not check orders of clients who already have an active service.",
    )
    skip_for_orders_paid_by_credit = models.BooleanField(
        "skip for orders paid by credit",
        default=False,
        help_text="Do not check orders paid entirely from the client's credit balance.",
    )
    fraud_check_admin_orders = models.BooleanField(
        "check orders placed by an admin",
        default=True,
        help_text="Run the check on orders an admin places for a client (Orders > Add New Order). Off: they are "
        "not checked, and the order's fraud result says so.",
    )
    new_client_max_age_days = models.PositiveSmallIntegerField(
        "new client: account younger than (days)",
        default=DEFAULT_NEW_CLIENT_MAX_AGE_DAYS,
        help_text="A client is new when it has no earlier order or its account is younger than this.",
    )
    free_email_domains = models.TextField(
        blank=True,
        default=defaults.default_free_email_domains,
        help_text="One domain per line. Subdomains match too.",
    )
    disposable_email_domains = models.TextField(
        blank=True,
        default=defaults.default_disposable_email_domains,
        help_text="One domain per line. Subdomains match too.",
    )
    high_risk_countries = models.TextField(
        blank=True,
        help_text="ISO 3166 country codes (e.g. DE), one per line or separated by spaces or commas. "
        "Empty by default: which countries are high-risk is your decision.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "fraud settings"
        verbose_name_plural = "fraud settings"

    def __str__(self) -> str:
        return "Fraud settings"

    def clean(self) -> None:
        errors = {}
        for name in ("free_email_domains", "disposable_email_domains"):
            bad = [entry for entry in split_list(getattr(self, name).lower()) if not _DOMAIN.match(entry)]
            if bad:
                errors[name] = f"Not a domain name: {', '.join(bad[:10])}."
        unknown = [code for code in split_list(self.high_risk_countries.upper()) if code not in COUNTRY_NAMES]
        if unknown:
            errors["high_risk_countries"] = f"Not an ISO 3166 country code: {', '.join(unknown[:10])}."
        if errors:
            raise ValidationError(errors)


class FraudRule(models.Model):
    """One rule's switch, points and threshold. The rules themselves are code (fraud.engine.RULES); the
    migrations create one row per rule, and the admin edits but never adds or deletes them."""

    code = models.CharField(max_length=64, unique=True)
    enabled = models.BooleanField(default=True)
    points = models.PositiveSmallIntegerField(
        validators=[MaxValueValidator(100)], help_text="Added to the score when the rule fires (0 to 100)."
    )
    threshold = models.DecimalField(
        max_digits=14,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0"))],
        help_text="The rule's limit (km, orders, amount or services, see the unit); empty for rules without one.",
    )

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.title

    @property
    def title(self) -> str:
        definition = RULES.get(self.code)
        return definition.title if definition else f"{self.code} (no longer in the code: ignored)"

    @property
    def threshold_unit(self) -> str:
        definition = RULES.get(self.code)
        return definition.threshold_unit if definition else ""

    def clean(self) -> None:
        definition = RULES.get(self.code)
        if definition is None:
            raise ValidationError({"code": f"No fraud rule {self.code!r} exists in the code."})
        if definition.default_threshold is None:
            if self.threshold is not None:
                raise ValidationError({"threshold": "This rule has no threshold; leave it empty."})
            return
        if self.threshold is None:
            raise ValidationError({"threshold": f"This rule needs a threshold ({definition.threshold_unit})."})
        if not definition.threshold_is_money and self.threshold != self.threshold.to_integral_value():
            raise ValidationError({"threshold": f"Use a whole number ({definition.threshold_unit})."})

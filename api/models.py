"""API credentials: an identifier and a secret (shown once, stored as its SHA-256), what each area of the API it
may do, where it may call from, and the one client it is limited to, if any. Each credential acts through a user
of its own ("api:NAME", no password, not staff), so what it writes is in the activity log under its name."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class Area(models.TextChoices):
    CLIENTS = "clients", "Clients"
    PRODUCTS = "products", "Products"
    ORDERS = "orders", "Orders"
    INVOICES = "invoices", "Invoices"
    TRANSACTIONS = "transactions", "Transactions"
    SERVICES = "services", "Services"
    DOMAINS = "domains", "Domains"
    CREDIT = "credit", "Credit"
    WEBHOOKS = "webhooks", "Webhook endpoints"
    AUTOMATION = "automation", "Automation run"


class Grant(models.TextChoices):
    NONE = "none", "Nothing"
    READ = "read", "Read"
    ACTIONS = "actions", "Read and act"


class ApiCredential(models.Model):
    name = models.CharField(max_length=100, unique=True)
    identifier = models.CharField(max_length=64, unique=True, editable=False)
    # SHA-256 of the secret: a secret is 256 random bits, so a fast hash is as safe as a slow one, and every request
    # is checked in microseconds (a password hasher would cost each API call a quarter of a second).
    secret_hash = models.CharField(max_length=64, editable=False)
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="api_credential")
    grants = models.JSONField(default=dict, help_text="Per area: none, read, or actions.")
    client = models.ForeignKey(
        "billing.Client",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="api_credentials",
        help_text="Set: the credential sees only this client's objects.",
    )
    allowed_ips = models.JSONField(
        default=list, blank=True, help_text="Addresses or networks (CIDR) it may call from; empty: anywhere."
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "API credential"

    def __str__(self) -> str:
        return self.name

    def grant(self, area: str) -> str:
        return self.grants.get(area, Grant.NONE)


class IdempotentRequest(models.Model):
    """A POST made with an Idempotency-Key: the first one's answer, replayed for the same key and request for 24
    hours. The row is written (unique per credential and key) before the work starts, so a second request with the
    key meets it instead of doing the work again; the answer is stored in the transaction of the work itself."""

    credential = models.ForeignKey(ApiCredential, on_delete=models.CASCADE, related_name="idempotent_requests")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the method, path and body.")
    status_code = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Empty: still being answered.")
    response = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["credential", "key"], name="api_idempotency_key_once_per_credential")
        ]

    def __str__(self) -> str:
        return f"{self.credential_id}: {self.key}"

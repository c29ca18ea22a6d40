from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django_fsm import FSMField, FSMModelMixin, transition

from billing.cycles import BillingCycle
from billing.money import MoneyField
from core.fsm import BULK


def _billing_day_field() -> models.PositiveSmallIntegerField:
    """The day of the month a service's or domain's periods start on, kept when an admin moves its due date to
    another day (see billing.cycles.period_after); empty while it is the registration date's day."""
    return models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(31)],
        help_text="Set when an admin moves the next due date to another day of the month; empty: the registration "
        "date's day.",
    )


def _billing_day_check(name: str) -> models.CheckConstraint:
    return models.CheckConstraint(
        condition=models.Q(billing_day__isnull=True) | models.Q(billing_day__gte=1, billing_day__lte=31), name=name
    )


# Marks a transition core.fsm.transition_in_bulk may apply to many rows: its body reads only its arguments.
BULK_OK = {BULK: True}


class AutoSetup(models.TextChoices):
    """When a product is set up on its server. The service keeps the mode it was bought with."""

    ON_ORDER = "order", "As soon as the order is placed"
    ON_PAYMENT = "payment", "When the first payment is received"
    ON_ACCEPT = "accept", "When an admin accepts the order"
    NEVER = "never", "Never automatically"


class ServerGroup(models.Model):
    """The servers a product's new accounts go to, and how one is picked (provisioning.servers.server_pick)."""

    class FillType(models.TextChoices):
        LEAST_FULL = "least_full", "Add to the least full server"
        FILL_ACTIVE = "fill_active", "Fill the first server until it is full"

    name = models.CharField(max_length=100, unique=True)
    fill_type = models.CharField(max_length=16, choices=FillType.choices, default=FillType.LEAST_FULL)

    def __str__(self) -> str:
        return self.name


class Server(models.Model):
    """A server a module drives. Its credentials are encrypted at rest (core.crypto, MultiFernet) and never
    rendered back; `settings` holds the module's other server settings, as its declaration says."""

    name = models.CharField(max_length=100)
    hostname = models.CharField(max_length=253)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    port = models.PositiveIntegerField(null=True, blank=True, help_text="Empty: the module's default port.")
    secure = models.BooleanField(default=True, help_text="Connect with TLS where the module can.")
    module = models.CharField(max_length=64, blank=True, help_text="Provisioning module that drives this server.")
    username = models.CharField(max_length=150, blank=True, help_text="The account the module logs in with.")
    credentials_token = models.TextField(blank=True, editable=False)
    settings = models.JSONField(default=dict, blank=True)
    max_accounts = models.PositiveIntegerField(default=200)
    is_active = models.BooleanField(default=True, help_text="Inactive: no new accounts are put on it.")
    groups = models.ManyToManyField(ServerGroup, blank=True, related_name="servers")
    notes = models.TextField(blank=True)
    last_tested_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_test_ok = models.BooleanField(null=True, blank=True, editable=False)
    last_test_message = models.TextField(blank=True, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.hostname})"


class Service(FSMModelMixin, models.Model):
    """A product a client bought, with a snapshot of what was bought so later catalog edits change nothing here."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        ACTIVE = "active", "Active"
        SUSPENDED = "suspended", "Suspended"
        TERMINATED = "terminated", "Terminated"
        CANCELLED = "cancelled", "Cancelled"
        FRAUD = "fraud", "Fraud"

    class SuspensionReason(models.TextChoices):
        NONE = "", "Not suspended"
        OVERDUE = "overdue", "Overdue on payment"
        ABUSE = "abuse", "Abuse"
        ADMIN = "admin", "Suspended by an admin"

    # No index of its own: the (client, status) index starts with it, and every UPDATE of a service writes one
    # entry per index (the automation run suspends hundreds of thousands at a time).
    client = models.ForeignKey("billing.Client", on_delete=models.PROTECT, related_name="services", db_index=False)
    order = models.ForeignKey("orders.Order", null=True, blank=True, on_delete=models.PROTECT, related_name="services")
    product = models.ForeignKey("orders.Product", on_delete=models.PROTECT, related_name="services")
    server = models.ForeignKey(Server, null=True, blank=True, on_delete=models.SET_NULL, related_name="services")
    currency = models.ForeignKey("billing.Currency", on_delete=models.PROTECT, related_name="+")
    billing_cycle = models.CharField(max_length=16, choices=BillingCycle.choices)
    recurring_amount = MoneyField()
    first_payment_amount = MoneyField()
    module = models.CharField(max_length=64, blank=True)
    module_settings = models.JSONField(default=dict, blank=True)
    auto_setup = models.CharField(max_length=16, choices=AutoSetup.choices)
    domain = models.CharField(max_length=253, blank=True)
    username = models.CharField(max_length=64, blank=True)
    # The account's password, encrypted (core.crypto); shown masked, revealed only with a permission, and logged.
    password_token = models.TextField(blank=True, editable=False)
    # What the module's create returned for the client to connect with (host, port, database, zone...).
    account = models.JSONField(default=dict, blank=True, editable=False)
    # Counts the times the service went back to Pending after it ended: a new setup gets a new create key.
    setup_round = models.PositiveSmallIntegerField(default=0, editable=False)
    registration_date = models.DateField(default=timezone.localdate)
    billing_day = _billing_day_field()
    next_due_date = models.DateField(null=True, blank=True)
    termination_date = models.DateField(null=True, blank=True)
    suspension_reason = models.CharField(max_length=16, choices=SuspensionReason.choices, default="", blank=True)
    status = FSMField(default=Status.PENDING, choices=Status.choices, protected=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["status", "next_due_date"]), models.Index(fields=["client", "status"])]
        constraints = [_billing_day_check("provisioning_service_billing_day_in_month")]
        permissions = [
            ("suspend_service", "Can suspend a service (abuse or admin)"),
            ("unsuspend_service", "Can unsuspend a service"),
            ("terminate_service", "Can terminate a service"),
            ("change_package_service", "Can change a service's package"),
            ("change_password_service", "Can change a service's account password"),
            ("reveal_password_service", "Can reveal a service's account password"),
        ]

    def __str__(self) -> str:
        return f"{self.product.name if self.product_id else 'Service'} #{self.pk}" + (
            f" ({self.domain})" if self.domain else ""
        )

    @transition(field=status, source=Status.PENDING, target=Status.ACTIVE)
    def activate(self) -> None:
        pass

    @transition(field=status, source=Status.ACTIVE, target=Status.SUSPENDED, custom=BULK_OK)
    def suspend(self, *, reason: str) -> None:
        self.suspension_reason = reason

    @transition(field=status, source=Status.SUSPENDED, target=Status.ACTIVE, custom=BULK_OK)
    def unsuspend(self) -> None:
        self.suspension_reason = self.SuspensionReason.NONE

    @transition(field=status, source=[Status.ACTIVE, Status.SUSPENDED], target=Status.TERMINATED, custom=BULK_OK)
    def terminate(self, *, on) -> None:
        self.termination_date = on
        self.suspension_reason = self.SuspensionReason.NONE

    @transition(field=status, source=Status.PENDING, target=Status.CANCELLED)
    def cancel(self) -> None:
        pass

    @transition(field=status, source=Status.PENDING, target=Status.FRAUD)
    def mark_fraud(self) -> None:
        pass

    @transition(field=status, source=[Status.CANCELLED, Status.FRAUD, Status.TERMINATED], target=Status.PENDING)
    def set_pending(self) -> None:
        self.termination_date = None
        self.setup_round += 1


# A domain name in one of these statuses belongs to a client here; a second live row for it is refused.
DOMAIN_LIVE_STATUSES = ["pending", "pending_registration", "pending_transfer", "active", "expired"]


class Domain(FSMModelMixin, models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        PENDING_REGISTRATION = "pending_registration", "Pending Registration"
        PENDING_TRANSFER = "pending_transfer", "Pending Transfer"
        ACTIVE = "active", "Active"
        EXPIRED = "expired", "Expired"
        TRANSFERRED_AWAY = "transferred_away", "Transferred Away"
        CANCELLED = "cancelled", "Cancelled"
        FRAUD = "fraud", "Fraud"

    class RegistrationType(models.TextChoices):
        REGISTER = "register", "Register"
        TRANSFER = "transfer", "Transfer"

    class CheckoutAvailability(models.TextChoices):
        """What the TLD's registrar said of the name when it was ordered; the admin reads it on review."""

        NOT_CHECKED = "", "Not checked (no TLD settings)"
        AVAILABLE = "available", "Available"
        REGISTERED = "registered", "Registered (a transfer in)"
        UNKNOWN = "unknown", "Unknown: the registrar cannot check"

    BEFORE_ACTIVE = [Status.PENDING, Status.PENDING_REGISTRATION, Status.PENDING_TRANSFER]
    LIVE_STATUSES = DOMAIN_LIVE_STATUSES

    client = models.ForeignKey("billing.Client", on_delete=models.PROTECT, related_name="domains")
    order = models.ForeignKey("orders.Order", null=True, blank=True, on_delete=models.PROTECT, related_name="domains")
    product = models.ForeignKey(
        "orders.Product", null=True, blank=True, on_delete=models.PROTECT, related_name="domains"
    )
    name = models.CharField(max_length=253, db_index=True)
    registration_type = models.CharField(max_length=16, choices=RegistrationType.choices)
    registration_period = models.PositiveSmallIntegerField(help_text="Years.")
    registrar = models.CharField(max_length=64, blank=True)
    availability_at_checkout = models.CharField(
        max_length=16, choices=CheckoutAvailability.choices, default="", blank=True, editable=False
    )
    currency = models.ForeignKey("billing.Currency", on_delete=models.PROTECT, related_name="+")
    recurring_amount = MoneyField()
    first_payment_amount = MoneyField()
    registration_date = models.DateField(default=timezone.localdate)
    expiry_date = models.DateField(null=True, blank=True)
    billing_day = _billing_day_field()
    next_due_date = models.DateField(null=True, blank=True)
    status = FSMField(default=Status.PENDING, choices=Status.choices, protected=True)
    created_at = models.DateTimeField(default=timezone.now)
    # What the registrar holds, as it last confirmed it (or as ordered, before it did).
    nameservers = models.JSONField(default=list, blank=True)
    transfer_lock = models.BooleanField(default=True)
    auto_renew = models.BooleanField(default=True, help_text="Off: no renewal invoice is made for it.")
    # The EPP code a client gave for a transfer in, encrypted (core.crypto); never rendered back.
    epp_code_token = models.TextField(blank=True, editable=False)
    # Incremented by set_pending: a domain accepted again after it was cancelled is a new registration round, so
    # its register call has a key of its own (provisioning.queue.requests.registration_key).
    setup_round = models.PositiveSmallIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["status", "next_due_date"]), models.Index(fields=["client", "status"])]
        constraints = [
            models.UniqueConstraint(
                fields=["name"],
                condition=models.Q(status__in=DOMAIN_LIVE_STATUSES),
                name="provisioning_one_live_domain_per_name",
            ),
            _billing_day_check("provisioning_domain_billing_day_in_month"),
        ]
        permissions = [
            ("registrar_read_domain", "Can ask a domain's registrar what it holds (sync, nameservers, lock)"),
            ("registrar_change_domain", "Can make registrar changes to a domain (register, renew, nameservers, lock)"),
            ("epp_code_domain", "Can have a domain's EPP code emailed to its owner"),
            ("reveal_epp_code_domain", "Can see the EPP code a client gave for a transfer in (to transfer it by hand)"),
        ]

    def __str__(self) -> str:
        return self.name

    @transition(field=status, source=Status.PENDING, target=Status.PENDING_REGISTRATION)
    def request_registration(self) -> None:
        pass

    @transition(field=status, source=Status.PENDING, target=Status.PENDING_TRANSFER)
    def request_transfer(self) -> None:
        pass

    @transition(field=status, source=BEFORE_ACTIVE, target=Status.ACTIVE)
    def activate(self, *, expiry_date) -> None:
        self.expiry_date = expiry_date

    @transition(field=status, source=Status.ACTIVE, target=Status.EXPIRED, custom=BULK_OK)
    def expire(self) -> None:
        pass

    @transition(field=status, source=Status.EXPIRED, target=Status.ACTIVE, custom=BULK_OK)
    def renew(self, *, expiry_date) -> None:
        """A paid renewal of an expired domain: it is ours to renew, and Active again until its new expiry."""
        self.expiry_date = expiry_date

    @transition(field=status, source=[Status.ACTIVE, Status.EXPIRED], target=Status.TRANSFERRED_AWAY)
    def mark_transferred_away(self) -> None:
        pass

    @transition(field=status, source=[Status.ACTIVE, Status.EXPIRED], target=Status.CANCELLED)
    def registry_lost(self) -> None:
        """The registrar says the registry no longer has it (deleted, or never registered): not billed again."""

    @transition(field=status, source=Status.PENDING_TRANSFER, target=Status.PENDING)
    def transfer_failed(self) -> None:
        """The registry refused the transfer in: Pending again, for the admin to send it once more (a new EPP
        code, the lock lifted at the losing registrar) or cancel it. Sent again, it is a new round: its transfer
        call has a key of its own (the failed round's call stands in the log)."""
        self.setup_round += 1

    @transition(field=status, source=[*BEFORE_ACTIVE, Status.ACTIVE], target=Status.CANCELLED)
    def cancel(self) -> None:
        pass

    @transition(field=status, source=BEFORE_ACTIVE, target=Status.FRAUD)
    def mark_fraud(self) -> None:
        pass

    @transition(field=status, source=[Status.CANCELLED, Status.FRAUD], target=Status.PENDING)
    def set_pending(self) -> None:
        self.setup_round += 1


class CancellationRequest(FSMModelMixin, models.Model):
    """A client's or an admin's request to end a service: at once, or at the end of the period it is paid for.
    The automation run carries it out; a service has at most one open request."""

    class When(models.TextChoices):
        IMMEDIATE = "immediate", "Immediately"
        END_OF_PERIOD = "end_of_period", "At the end of the billing period"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        DONE = "done", "Carried out"  # by the automation run (cancellations_carry_out)
        WITHDRAWN = "withdrawn", "Withdrawn"  # by the client or an admin before that (cancellation_withdraw)

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="cancellation_requests")
    when = models.CharField(max_length=16, choices=When.choices)
    reason = models.TextField(blank=True)
    status = FSMField(max_length=16, choices=Status.choices, default=Status.OPEN, protected=True)
    requested_at = models.DateTimeField(default=timezone.now)
    requested_by = models.CharField(max_length=150, help_text="Who asked: a user name, or 'system'.")
    done_on = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["service"], condition=models.Q(status="open"), name="provisioning_one_open_cancellation"
            )
        ]

    def __str__(self) -> str:
        return f"Cancel {self.service_id} {self.get_when_display().lower()} ({self.get_status_display()})"

    @transition(field=status, source=Status.OPEN, target=Status.DONE, custom=BULK_OK)
    def carry_out(self, *, on) -> None:
        self.done_on = on

    @transition(field=status, source=Status.OPEN, target=Status.WITHDRAWN)
    def withdraw(self) -> None:
        pass


class DomainRenewalNotice(models.Model):
    """A renewal notice for a domain's expiry, once per (domain, expiry date, days before). After a missed day
    only the most urgent notice reached is sent; the earlier ones are recorded as skipped."""

    domain = models.ForeignKey(Domain, on_delete=models.CASCADE, related_name="renewal_notices")
    expiry_date = models.DateField(help_text="The expiry the notice was about: a renewal starts the notices again.")
    days_before = models.PositiveSmallIntegerField()
    sent_on = models.DateField()
    skipped = models.BooleanField(default=False)

    class Meta:
        ordering = ["-sent_on", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["domain", "expiry_date", "days_before"], name="provisioning_renewal_notice_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.domain_id}: {self.days_before} days before {self.expiry_date}"


from provisioning.domain_models import RegistrarConfig, Tld, TldFees, TldPrice  # noqa: E402,F401 - TLDs, registrars
from provisioning.module_models import ModuleCall, ModuleTodo, ServiceUsage  # noqa: E402,F401 - the queue's models
from provisioning.poll_models import RegistrarPoll, RegistrarPollMessage  # noqa: E402,F401 - registrar polls
from provisioning.sync_models import ServerSyncReport  # noqa: E402,F401 - server sync reports

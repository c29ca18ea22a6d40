"""The default email templates, in code: each one's name, the event it goes with, and the variables its context
provides, with sample values for the preview. The texts are files under templates/emails/ (<name>.subject.txt,
<name>.txt, <name>.html) so they read well; `email_templates_seed` writes the missing ones as rows.

A template may use only its declared variables (and `company_name`, added to every context): the check in
notifications.emails.rendering refuses any other when a template is saved."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError

# Added to every email's context when it is rendered.
COMMON_VARIABLES: dict[str, str] = {"company_name": "Example Hosting"}

_INVOICE = {"invoice_id": 1042, "number": "INV-2026-0042", "balance_due": "24.99", "currency": "USD"}
_SERVICE = {"service_id": 7, "product": "Starter Hosting", "domain": "example.org"}
# What a welcome email adds (provisioning.services.services.welcome_context): how to connect, as the module's
# create returned it; each is "" when the module did not return it (a DNS zone has no port, a database no zone).
# Never the password: the client sets one with "reset password" on the service page.
WELCOME_VARIABLES = {
    **_SERVICE,
    "username": "shop7",  # the account's login name
    "host": "db1.example.net",  # the server to connect to
    "port": "5432",  # its port
    "database": "shop7",  # the database's name (database hosting)
    "zone": "",  # the DNS zone's name (DNS hosting)
}


@dataclass(frozen=True)
class TemplateSpec:
    name: str
    event: str  # the event it goes with; "" for an email no event announces (password reset)
    description: str
    variables: dict[str, object] = field(default_factory=dict)  # name -> sample value for the preview

    def samples(self) -> dict[str, object]:
        return {**COMMON_VARIABLES, **self.variables}


REMINDER_VARIABLES = {**_INVOICE, "due_date": "2026-12-01", "level_days": 1}

TEMPLATES: dict[str, TemplateSpec] = {
    spec.name: spec
    for spec in [
        TemplateSpec(
            "order_confirmation",
            "OrderCreated",
            "Sent when a client places an order.",
            {
                "order_id": 31,
                "client_name": "Ada Lovelace",
                "total": "29.99",
                "currency": "USD",
                "items": ["Starter Hosting (example.org)"],
            },
        ),
        TemplateSpec(
            "invoice_created",
            "InvoiceCreated",
            "Sent when an invoice is created for the client (PDF attached).",
            {**_INVOICE, "due_date": "2026-12-01", "total": "24.99"},
        ),
        TemplateSpec(
            "invoice",
            "InvoiceSent",
            "An invoice an admin sends (again) to its client (PDF attached).",
            {**_INVOICE, "due_date": "2026-12-01"},
        ),
        TemplateSpec(
            "payment_confirmation",
            "InvoicePaymentReceived",
            "Sent when a payment is recorded against an invoice.",
            {**_INVOICE, "amount": "24.99", "balance_due": "0.00"},
        ),
        TemplateSpec(
            "invoice_reminder_upcoming",
            "InvoicePaymentReminder",
            "Reminder before the due date (PDF attached).",
            {**REMINDER_VARIABLES, "level_days": -7},
        ),
        TemplateSpec(
            "invoice_reminder_due",
            "InvoicePaymentReminder",
            "Reminder on the due date (PDF attached).",
            {**REMINDER_VARIABLES, "level_days": 0},
        ),
        TemplateSpec(
            "invoice_overdue_first",
            "InvoicePaymentReminder",
            "First overdue notice (PDF attached).",
            REMINDER_VARIABLES,
        ),
        TemplateSpec(
            "invoice_overdue_second",
            "InvoicePaymentReminder",
            "Second overdue notice (PDF attached).",
            {**REMINDER_VARIABLES, "level_days": 7},
        ),
        TemplateSpec(
            "invoice_overdue_third",
            "InvoicePaymentReminder",
            "Third overdue notice (PDF attached).",
            {**REMINDER_VARIABLES, "level_days": 14},
        ),
        TemplateSpec(
            "late_fee_added",
            "AddInvoiceLateFee",
            "Sent when a late fee is added to an overdue invoice.",
            {**_INVOICE, "fee": "5.00", "balance_due": "29.99"},
        ),
        TemplateSpec(
            "service_suspended",
            "ServiceSuspended",
            "Sent when a service is suspended.",
            {**_SERVICE, "reason": "overdue"},
        ),
        TemplateSpec("service_unsuspended", "ServiceUnsuspended", "Sent when a service is active again.", _SERVICE),
        TemplateSpec("service_terminated", "ServiceTerminated", "Sent when a service is terminated.", _SERVICE),
        TemplateSpec(
            "cancellation_confirmed",
            "CancellationRequest",
            "Confirms a client's or an admin's cancellation request.",
            {**_SERVICE, "when": "end of billing period", "cancel_on": "2026-12-31"},
        ),
        TemplateSpec(
            "domain_renewal_notice",
            "DomainRenewalNotice",
            "Reminds the owner that a domain expires soon.",
            {"domain": "example.org", "expiry_date": "2026-12-31", "days_before": 30},
        ),
        TemplateSpec(
            "domain_epp_code",
            "AfterRegistrarGetEppCode",
            "The EPP (transfer authorization) code the client asked for; it is shown nowhere else.",
            {"domain": "example.org", "epp_code": "Xy7-3pQ!a"},
        ),
        TemplateSpec(
            "password_reset",
            "",
            "The link to choose a new password.",
            {"username": "ada", "reset_url": "https://portal.example.com/reset/MQ/abc-123/"},
        ),
        TemplateSpec(
            "service_welcome",
            "ServiceActivated",
            "The generic welcome email of a new service (a product may name its own).",
            WELCOME_VARIABLES,
        ),
        TemplateSpec(
            "hosting_welcome",
            "ServiceActivated",
            "A welcome email for hosting products, for a product to name as its own.",
            WELCOME_VARIABLES,
        ),
    ]
}


def template_spec(name: str, event: str) -> TemplateSpec:
    """The declared variables of a template: its own spec, or for a template an admin made for an event, those
    of the default templates of that event (what the code queuing it provides)."""
    if name in TEMPLATES:
        return TEMPLATES[name]
    variables: dict[str, object] = {}
    for spec in TEMPLATES.values():
        if spec.event == event and event:
            variables.update(spec.variables)
    return TemplateSpec(name, event, "", variables)


WELCOME_EVENT = "ServiceActivated"  # a welcome email's context is the new service's (_SERVICE)


def welcome_templates() -> list[str]:
    """The templates a product may welcome its new services with: the catalog's for a service's activation."""
    return sorted(spec.name for spec in TEMPLATES.values() if spec.event == WELCOME_EVENT)


def welcome_template_validate(name: str) -> None:
    """The validator of Product.welcome_email_template: blank (the default welcome) or a welcome template."""
    if name and name not in welcome_templates():
        raise ValidationError(
            f"There is no welcome email template named {name!r}: choose one of {', '.join(welcome_templates())}, "
            "or leave it blank for service_welcome.",
            code="unknown_template",
        )


def template_files(name: str) -> tuple[str, str, str]:
    """(subject, text, html) of a default template, from templates/emails/."""
    folder = Path(settings.BASE_DIR) / "templates" / "emails"
    return tuple(
        (folder / f"{name}.{suffix}").read_text(encoding="utf-8").strip() + ("\n" if suffix != "subject.txt" else "")
        for suffix in ("subject.txt", "txt", "html")
    )

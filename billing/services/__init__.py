"""Every write of the billing app. Import from here: `from billing.services import invoice_create`."""

from billing.services.automation_settings import automation_settings_update, automation_settings_validate
from billing.services.clients import client_create, client_update_contact
from billing.services.invoices import (
    InvoiceLine,
    invoice_cancel,
    invoice_cancel_if_open,
    invoice_create,
    invoice_delete,
    invoice_issue,
    invoice_lines_withdraw,
    invoice_recalculate,
    invoice_reopen_if_cancelled,
    invoice_send,
    invoice_send_to_collections,
    number_format_validate,
)
from billing.services.payments import (
    CREDIT_GATEWAY,
    PaymentOutcome,
    credit_add,
    credit_apply,
    credit_remove,
    money_validate,
    payment_record,
    refund_record,
    refundable_on,
)

__all__ = [
    "CREDIT_GATEWAY",
    "InvoiceLine",
    "PaymentOutcome",
    "automation_settings_update",
    "automation_settings_validate",
    "client_create",
    "client_update_contact",
    "credit_add",
    "credit_apply",
    "credit_remove",
    "invoice_cancel",
    "invoice_cancel_if_open",
    "invoice_create",
    "invoice_delete",
    "invoice_issue",
    "invoice_lines_withdraw",
    "invoice_recalculate",
    "invoice_reopen_if_cancelled",
    "invoice_send",
    "invoice_send_to_collections",
    "money_validate",
    "number_format_validate",
    "payment_record",
    "refund_record",
    "refundable_on",
]

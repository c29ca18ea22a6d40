"""Every write of the billing app. Import from here: `from billing.services import invoice_create`.

Inside, the payment chain runs one way: gateway events > invoices | payments | refunds > the credit ledger >
settlement > numbering | totals; billing.gateways sits below all of them and calls none."""

from billing.services.clients import client_create, client_update, client_update_contact, client_update_validate
from billing.services.gateway_events import gateway_event_apply, gateway_event_store, sandbox_payment_charge
from billing.services.invoices import (
    InvoiceLine,
    Withdrawal,
    WithdrawalOutcome,
    invoice_cancel,
    invoice_cancel_if_open,
    invoice_create,
    invoice_delete,
    invoice_issue,
    invoice_lines_withdraw,
    invoice_reopen_if_cancelled,
    invoice_send,
    invoice_send_to_collections,
    invoice_update,
)
from billing.services.ledger import CREDIT_GATEWAY, credit_add, credit_apply, credit_remove
from billing.services.numbering import number_format_validate
from billing.services.payments import PaymentOutcome, payment_record, payment_start
from billing.services.refunds import RefundMethod, payment_refund, refund_record
from billing.services.settings import (
    billing_settings_update,
    billing_settings_validate,
    gateway_config_create,
    gateway_config_update,
    gateway_config_validate,
)
from billing.services.totals import invoice_recalculate

__all__ = [
    "CREDIT_GATEWAY",
    "InvoiceLine",
    "PaymentOutcome",
    "RefundMethod",
    "Withdrawal",
    "WithdrawalOutcome",
    "billing_settings_update",
    "billing_settings_validate",
    "client_create",
    "client_update",
    "client_update_contact",
    "client_update_validate",
    "credit_add",
    "credit_apply",
    "credit_remove",
    "gateway_config_create",
    "gateway_config_update",
    "gateway_config_validate",
    "gateway_event_apply",
    "gateway_event_store",
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
    "invoice_update",
    "number_format_validate",
    "payment_record",
    "payment_refund",
    "payment_start",
    "refund_record",
    "sandbox_payment_charge",
]

"""The buttons on the invoice page: each is a small form, then one service call. A refusal comes back as a form
error and changes nothing."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django_fsm import can_proceed

from billing.forms import (
    ApplyCreditForm,
    ConfirmForm,
    PaymentForm,
    ReasonForm,
    RefundForm,
)
from billing.models import (
    Invoice,
)
from billing.selectors import refundable_transactions
from billing.services import (
    credit_apply,
    invoice_cancel,
    invoice_issue,
    invoice_send,
    invoice_send_to_collections,
    payment_record,
    payment_refund,
)


class InvoiceAction:
    """A button on the invoice page: a small form, then one service call. `allowed` only decides whether the
    button shows; the service decides, under the invoice's lock, whether the action happens."""

    slug: str
    label: str
    question: str = ""
    form_class: type[ConfirmForm] = ConfirmForm

    def allowed(self, invoice: Invoice) -> bool:
        raise NotImplementedError

    def perform(self, invoice: Invoice, form, *, actor) -> tuple[int, str]:
        """Do it; returns the message level and text. Raises ValidationError when the service refuses."""
        raise NotImplementedError


class IssueAction(InvoiceAction):
    slug, label = "issue", "Issue"
    question = "Issue this draft? It becomes Unpaid and gets its number; it can no longer be edited as a draft."

    def allowed(self, invoice):
        return can_proceed(invoice.publish)

    def perform(self, invoice, form, *, actor):
        invoice = invoice_issue(invoice_id=invoice.pk, actor=actor)
        return messages.SUCCESS, f"{invoice} issued."


class PaymentAction(InvoiceAction):
    slug, label = "payment", "Add payment"
    question = "Record money received for this invoice. What exceeds the balance due becomes client credit."
    form_class = PaymentForm

    def allowed(self, invoice):
        return invoice.status in Invoice.PAYABLE_STATUSES

    def perform(self, invoice, form, *, actor):
        data = form.cleaned_data
        outcome = payment_record(
            invoice_id=invoice.pk,
            amount=data["amount"],
            gateway=data["gateway"],
            gateway_transaction_id=data["gateway_transaction_id"],
            fees=data["fees"],
            paid_at=form.paid_at(),
            actor=actor,
        )
        if not outcome.created:
            return messages.WARNING, (
                f"{data['gateway']} transaction {data['gateway_transaction_id']} was recorded before "
                f"(on {outcome.transaction.invoice or 'no invoice'}): nothing was changed."
            )
        paid = outcome.invoice
        return messages.SUCCESS, (
            f"{paid.currency.format(data['amount'])} recorded on {paid}; it is {paid.get_status_display()} "
            f"with {paid.currency.format(paid.balance_due)} due."
        )


class RefundAction(InvoiceAction):
    slug, label = "refund", "Refund"
    question = (
        "Send (part of) a payment back, or credit applied back to the client's credit. When everything that went "
        "into the invoice has gone back, it becomes Refunded."
    )
    form_class = RefundForm

    def allowed(self, invoice):
        return bool(refundable_transactions(invoice=invoice))

    def perform(self, invoice, form, *, actor):
        data = form.cleaned_data
        refund = payment_refund(
            payment_id=data["payment"].pk,
            amount=data["amount"],
            method=data["method"],
            actor=actor,
            reason=data["reason"],
        )
        invoice.refresh_from_db(fields=["status", "amount_refunded"])
        return messages.SUCCESS, (
            f"{invoice.currency.format(refund.amount_out)} refunded on {invoice} ({refund.gateway}); "
            f"it is {invoice.get_status_display()}."
        )


class ReasonedTransition(InvoiceAction):
    form_class = ReasonForm
    service: Callable[..., Invoice]  # the service, as a staticmethod
    transition_name: str  # the Invoice transition it runs, for `allowed`

    def allowed(self, invoice):
        return can_proceed(getattr(invoice, self.transition_name))

    def perform(self, invoice, form, *, actor):
        moved = self.service(invoice_id=invoice.pk, actor=actor, reason=form.cleaned_data["reason"])
        return messages.SUCCESS, f"{moved} is now {moved.get_status_display()}."


class CancelAction(ReasonedTransition):
    slug, label = "cancel", "Cancel invoice"
    question = "Cancel this invoice? Credit applied and partial payments go back to the client's credit."
    service = staticmethod(invoice_cancel)
    transition_name = "cancel"


class CollectionsAction(ReasonedTransition):
    slug, label = "collections", "Mark collections"
    question = "Send this invoice to collections? It stays payable."
    service = staticmethod(invoice_send_to_collections)
    transition_name = "send_to_collections"


class ResendAction(InvoiceAction):
    slug, label = "resend", "Resend"
    question = "Queue an email of this invoice to the client again?"

    def allowed(self, invoice):
        return invoice.status != Invoice.Status.DRAFT

    def perform(self, invoice, form, *, actor):
        queued = invoice_send(invoice_id=invoice.pk, actor=actor)
        return messages.SUCCESS, f"Email of {queued} to {queued.client.email} queued."


class ApplyCreditAction(InvoiceAction):
    slug, label = "credit", "Apply credit"
    question = "Pay (part of) this invoice from the client's credit balance."
    form_class = ApplyCreditForm

    def allowed(self, invoice):
        return invoice.is_payable and invoice.client.credit_balance > 0

    def perform(self, invoice, form, *, actor):
        entry = credit_apply(invoice_id=invoice.pk, amount=form.cleaned_data["amount"], actor=actor)
        invoice.refresh_from_db(fields=["status", "balance_due", "credit_applied"])
        return messages.SUCCESS, (
            f"{invoice.currency.format(-entry.credit_change)} credit applied to {invoice}; "
            f"{invoice.currency.format(invoice.balance_due)} due, {invoice.get_status_display()}."
        )


INVOICE_ACTIONS: dict[str, InvoiceAction] = {
    action.slug: action
    for action in (
        IssueAction(),
        PaymentAction(),
        ApplyCreditAction(),
        RefundAction(),
        ResendAction(),
        CollectionsAction(),
        CancelAction(),
    )
}

"""Invoices: creation with their lines, taxes and totals, issuing, and the status changes that are not payments."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from billing.models import BillingSettings, Client, Currency, Invoice, InvoiceItem, TaxRule
from billing.money import MONEY_LIMIT
from billing.outcomes import KeptBecause, Withdrawal, WithdrawalOutcome
from billing.pdf import invoice_pdf_reference
from billing.selectors import invoice_delete_blocker, tax_setup_for
from billing.services.changes import changes_described
from billing.services.emails import invoice_created_emails
from billing.services.ledger import credit_apply_locked, credit_return_from_invoice
from billing.services.numbering import number_if_numbered_when_unpaid, numbered_when_unpaid, numbers_allocate
from billing.services.settlement import client_locked, invoice_locked, invoice_mark_paid_if_settled
from billing.services.totals import TOTAL_FIELDS, invoice_recalculate
from billing.taxes import Line, compute_totals
from billing.wording import invoice_delete_blocker_words, withdrawal_kept_words
from core.fsm import apply_transition
from core.rows import decimal_text, insert_rows
from notifications.bus import emit, emit_select
from notifications.services import Actor, Subject, activity_record, activity_record_many, email_queue


@dataclass(frozen=True)
class InvoiceLine:
    kind: str
    description: str
    amount: Decimal
    related_id: int | None = None
    period_start: datetime.date | None = None
    period_end: datetime.date | None = None
    taxed: bool = False


def _lines_validate(lines: list[InvoiceLine], client: Client) -> None:
    if not lines:
        raise ValidationError("An invoice needs at least one line.")
    currency = client.currency
    for line in lines:
        if not isinstance(line.amount, Decimal):
            raise ValidationError(f"Line {line.description!r}: amounts are Decimal, not {type(line.amount).__name__}.")
        if not line.amount.is_finite():
            raise ValidationError(f"Line {line.description!r}: the amount is not a number.")
        if line.amount.copy_abs() >= MONEY_LIMIT:  # exact: abs() raises decimal.Overflow on 1e1000000
            raise ValidationError(f"Line {line.description!r}: the amount is larger than the books can hold.")
        if line.amount != currency.quantize(line.amount):
            raise ValidationError(
                f"Line {line.description!r}: {line.amount} has more than {currency.decimal_places} decimal places."
            )


def invoice_create(
    *,
    client: Client,
    lines: list[InvoiceLine],
    actor: Actor,
    issue_date: datetime.date | None = None,
    due_date: datetime.date | None = None,
    status: str = Invoice.Status.UNPAID,
) -> Invoice:
    """Create an invoice in the client's currency with its lines, taxes and totals. An Unpaid one gets its
    number (unless invoices are proforma) and, when the setting is on, the client's credit. InvoiceCreated is
    emitted after commit."""
    if status not in (Invoice.Status.DRAFT, Invoice.Status.UNPAID):
        raise ValidationError("A new invoice is either Draft or Unpaid.")
    _lines_validate(lines, client)
    issue_date = issue_date or timezone.localdate()
    billing = BillingSettings.load()
    tax = tax_setup_for(client=client, billing=billing)
    currency = client.currency
    with transaction.atomic():
        invoice = Invoice(
            client=client,
            currency=currency,
            date=issue_date,
            due_date=due_date or issue_date,
            tax_1_name=tax.name_1,
            tax_1_rate=tax.rate_1,
            tax_2_name=tax.name_2,
            tax_2_rate=tax.rate_2,
            tax_compound=tax.compound,
            prices_include_tax=tax.prices_include_tax,
        )
        if status == Invoice.Status.UNPAID:
            invoice.publish()
        invoice.save()
        InvoiceItem.objects.bulk_create(
            InvoiceItem(
                invoice=invoice,
                kind=line.kind,
                description=line.description,
                amount=line.amount,
                related_id=line.related_id,
                period_start=line.period_start,
                period_end=line.period_end,
                taxed=line.taxed,
            )
            for line in lines
        )
        invoice_recalculate(invoice, lines=[Line(amount=line.amount, taxed=line.taxed) for line in lines])
        if status == Invoice.Status.UNPAID:
            # Numbered as late as possible: the counter row stays locked until commit, blocking other invoices.
            number_if_numbered_when_unpaid(invoice, on=issue_date, billing=billing)
        activity_record(
            actor=actor,
            action="invoice_created",
            subject=invoice,
            client_id=client.pk,
            message=f"{invoice} created for {currency.format(invoice.total)}",
        )
        emit(
            "InvoiceCreated",
            invoice_id=invoice.pk,
            client_id=client.pk,
            total=str(invoice.total),
            currency=currency.code,
        )
        if status == Invoice.Status.UNPAID:  # a draft is the admin's, not yet the client's
            invoice_created_emails(Invoice.objects.filter(pk=invoice.pk))
            _settle_if_possible(invoice, billing=billing, actor=actor)
    return invoice


@dataclass(frozen=True)
class InvoiceDraft:
    """One invoice for invoices_create_bulk: whose, when due, and its lines."""

    client_id: int
    due_date: datetime.date
    lines: list[InvoiceLine]


@dataclass(frozen=True)
class NewInvoice:
    """An invoice invoices_create_bulk made: what its caller reports of it."""

    id: int
    number: str
    client_id: int
    due_date: datetime.date
    total: Decimal
    currency: Currency

    @property
    def display_number(self) -> str:
        return self.number or f"Proforma #{self.id}"


def invoices_create_bulk(*, drafts: list[InvoiceDraft], issue_date: datetime.date, actor: Actor) -> list[NewInvoice]:
    """Many Unpaid invoices at once, each as invoice_create makes one (taxes, totals, a number, the activity log,
    InvoiceCreated after commit, the client's credit when the setting is on), in a number of statements that
    does not grow with the number of invoices: the renewal step of the automation run makes its batches with
    it. The numbers of the batch are taken in one go from the locked counter, so they stay gapless and follow
    the drafts' order. Rows are written as plain values (core.rows.insert_rows: COPY on PostgreSQL).
    Only invoices that can settle at once (nothing due, or credit to apply) cost queries of their own. Runs
    inside the caller's transaction: a batch is all or nothing."""
    if not drafts:
        return []
    billing = BillingSettings.load()
    rules = list(TaxRule.objects.all())
    # What the invoices need of their clients: currency, tax rules' inputs, credit.
    clients = (
        Client.objects.select_related("currency")
        .only("currency", "country", "state", "tax_exempt", "credit_balance")
        .in_bulk({draft.client_id for draft in drafts})
    )
    now = timezone.now()
    rows, totals_of = [], []
    for draft in drafts:
        client = clients[draft.client_id]
        _lines_validate(draft.lines, client)
        tax = tax_setup_for(client=client, billing=billing, rules=rules)
        totals = compute_totals(
            [Line(amount=line.amount, taxed=line.taxed) for line in draft.lines],
            tax,
            places=client.currency.decimal_places,
        )
        if totals.subtotal < 0:
            raise ValidationError(f"The lines for {client} add up to less than nothing.")
        totals_of.append(totals)
        rows.append(
            {
                "client_id": client.pk,
                "currency_id": client.currency_id,
                # Created Unpaid, the state invoice_create's publish() gives a new invoice: no stored state moves.
                "status": Invoice.Status.UNPAID,
                "date": issue_date,
                "due_date": draft.due_date,
                "subtotal": totals.subtotal,
                "tax_1": totals.tax_1,
                "tax_2": totals.tax_2,
                "total": totals.total,
                "balance_due": totals.total,
                "tax_1_name": tax.name_1,
                "tax_1_rate": tax.rate_1,
                "tax_2_name": tax.name_2,
                "tax_2_rate": tax.rate_2,
                "tax_compound": tax.compound,
                "prices_include_tax": tax.prices_include_tax,
                "number": None,  # proforma invoices have none until paid (NULL: the column is unique)
                "created_at": now,
                "updated_at": now,
            }
        )
    if numbered_when_unpaid(billing):
        for row, number in zip(rows, numbers_allocate(len(rows), on=issue_date, billing=billing), strict=True):
            row["number"] = number
    ids = insert_rows(Invoice, rows, ids=True)
    insert_rows(
        InvoiceItem,
        [
            {
                "invoice_id": invoice_id,
                "kind": line.kind,
                "description": line.description,
                "amount": line.amount,
                "related_id": line.related_id,
                "period_start": line.period_start,
                "period_end": line.period_end,
                "taxed": line.taxed,
            }
            for invoice_id, draft in zip(ids, drafts, strict=True)
            for line in draft.lines
        ],
    )
    created = [
        NewInvoice(
            id=invoice_id,
            number=row["number"] or "",
            client_id=row["client_id"],
            due_date=row["due_date"],
            total=row["total"],
            currency=clients[row["client_id"]].currency,
        )
        for invoice_id, row in zip(ids, rows, strict=True)
    ]
    activity_record_many(
        actor=actor,
        action="invoice_created",
        entries=[
            (
                Subject("billing.invoice", invoice.id),
                invoice.client_id,
                f"Invoice {invoice.number or f'#{invoice.id}'} created for {invoice.currency.format(invoice.total)}",
            )
            for invoice in created
        ],
    )
    # The events are made by the database from the rows just written (no payload passes through Python).
    emit_select(
        "InvoiceCreated",
        Invoice.objects.filter(pk__any=ids),
        {
            "invoice_id": F("pk"),
            "client_id": F("client_id"),
            "total": decimal_text("total", Invoice._meta.get_field("total")),
            "currency": F("currency__code"),
        },
    )
    invoice_created_emails(Invoice.objects.filter(pk__any=ids))
    settle = [
        invoice.id
        for invoice in created
        if invoice.total <= 0 or (billing.auto_apply_credit and clients[invoice.client_id].credit_balance > 0)
    ]
    for invoice in Invoice.objects.select_related("currency").filter(pk__in=settle).order_by("id"):
        _settle_if_possible(invoice, billing=billing, actor=actor)
    return created


def _settle_if_possible(invoice: Invoice, *, billing: BillingSettings, actor: Actor) -> None:
    """A newly Unpaid invoice takes the client's credit when the setting is on, and one that comes to nothing
    (a free product, a 100% promotion) is Paid at once: otherwise nothing could ever settle it."""
    if billing.auto_apply_credit and invoice.balance_due > 0:
        client = client_locked(invoice.client_id)
        if client.credit_balance > 0:
            credit_apply_locked(invoice=invoice, client=client, amount=None, actor=actor)
            return  # credit_apply_locked marks it paid when the credit covered it
    invoice_mark_paid_if_settled(invoice, at=timezone.now(), actor=actor)


def invoice_issue(*, invoice_id: int, actor: Actor, today: datetime.date | None = None) -> Invoice:
    """Draft -> Unpaid: the invoice is final, dated today and numbered (unless invoices are proforma); it takes
    the client's credit when the setting is on."""
    today = today or timezone.localdate()
    billing = BillingSettings.load()
    with transaction.atomic():
        invoice = invoice_locked(invoice_id)
        apply_transition(invoice.publish, label="issued")
        # Dated the day it is issued, so its date and the year in its number agree.
        invoice.due_date = max(invoice.due_date, today) if invoice.due_date else today
        invoice.date = today
        invoice.save(update_fields=["status", "date", "due_date", "updated_at"])
        number_if_numbered_when_unpaid(invoice, on=today, billing=billing)
        activity_record(
            actor=actor,
            action="invoice_issued",
            subject=invoice,
            client_id=invoice.client_id,
            message=f"{invoice} issued",
        )
        emit("InvoiceIssued", invoice_id=invoice.pk, client_id=invoice.client_id, number=invoice.number or "")
        invoice_created_emails(Invoice.objects.filter(pk=invoice.pk))  # the client hears of it now, once
        _settle_if_possible(invoice, billing=billing, actor=actor)
    return invoice


# --- status changes --------------------------------------------------------------------------------------------


def _move(invoice: Invoice, bound_transition, *, label: str, action: str, message: str, event: str, actor: Actor):
    apply_transition(bound_transition, label=label)
    invoice.save(update_fields=["status", "updated_at"])
    activity_record(actor=actor, action=action, subject=invoice, client_id=invoice.client_id, message=message)
    emit(event, invoice_id=invoice.pk, client_id=invoice.client_id)


def invoice_cancel_if_open(*, invoice_id: int, actor: Actor, reason: str = "") -> Invoice | None:
    """Cancel the invoice if it is still Draft or Unpaid, deciding under its lock; a paid one is left alone."""
    with transaction.atomic():
        invoice = invoice_locked(invoice_id)
        if invoice.status not in Invoice.OPEN_STATUSES:
            return None
        _cancel(invoice, actor=actor, reason=reason)
    return invoice


def invoice_cancel(*, invoice_id: int, actor: Actor, reason: str = "") -> Invoice:
    """An admin cancels a Draft or Unpaid invoice. Credit applied and partial payments go to the client's credit."""
    with transaction.atomic():
        invoice = invoice_locked(invoice_id)
        _cancel(invoice, actor=actor, reason=reason)
    return invoice


def _cancel(invoice: Invoice, *, actor: Actor, reason: str) -> None:
    _return_money_to_credit(invoice, actor=actor)
    _move(
        invoice,
        invoice.cancel,
        label="cancelled",
        action="invoice_cancelled",
        message=f"{invoice} cancelled" + (f": {reason}" if reason else ""),
        event="InvoiceCancelled",
        actor=actor,
    )


def invoice_lines_withdraw(*, invoice_id: int, line_ids: list[int], actor: Actor, reason: str) -> WithdrawalOutcome:
    """Take these lines off an invoice: what they bill for ended before its period (a service cancelled at the
    end of the period before). The invoice must still be open (Draft or Unpaid).

    - Nothing else left to charge (no other line of a positive amount but late fees): the invoice is cancelled,
      and any credit applied or part payment goes to the client's credit (CANCELLED).
    - Other charges left and no money on it: the lines are deleted and the totals computed again from the rest
      (event InvoiceLinesRemoved; LINES_REMOVED).
    - Other charges left and money on it (removing lines could leave it overpaid, which an admin should settle),
      totals the rest cannot make (a discount outweighing it), or no longer open (paid meanwhile): it is left as
      it is and an activity entry says why (LEFT_FOR_ADMIN)."""
    with transaction.atomic():
        invoice = invoice_locked(invoice_id)
        withdrawn = list(invoice.items.filter(pk__in=line_ids).order_by("pk"))
        what = "; ".join(line.description for line in withdrawn)
        if invoice.status not in Invoice.OPEN_STATUSES:
            kept = WithdrawalOutcome(Withdrawal.LEFT_FOR_ADMIN, KeptBecause.NOT_OPEN, status=invoice.status)
        elif not withdrawn:
            return WithdrawalOutcome(Withdrawal.LEFT_FOR_ADMIN, KeptBecause.LINES_GONE)
        elif (
            not invoice.items.exclude(pk__in=line_ids)
            .exclude(kind=InvoiceItem.Kind.LATE_FEE)
            .filter(amount__gt=0)
            .exists()
        ):
            _cancel(invoice, actor=actor, reason=f"{reason} ({what})")
            return WithdrawalOutcome(Withdrawal.CANCELLED)
        elif invoice.amount_paid > 0 or invoice.credit_applied > 0:
            kept = WithdrawalOutcome(Withdrawal.LEFT_FOR_ADMIN, KeptBecause.MONEY_ON_IT)
        else:
            try:
                with transaction.atomic():
                    InvoiceItem.objects.filter(pk__in=[line.pk for line in withdrawn]).delete()
                    invoice_recalculate(invoice)
            except ValidationError as refused:  # e.g. a discount line would outweigh what is left
                invoice.refresh_from_db(fields=TOTAL_FIELDS)
                kept = WithdrawalOutcome(
                    Withdrawal.LEFT_FOR_ADMIN, KeptBecause.TOTALS_REFUSED, refused=tuple(refused.messages)
                )
            else:
                activity_record(
                    actor=actor,
                    action="invoice_lines_removed",
                    subject=invoice,
                    client_id=invoice.client_id,
                    message=f"{invoice}: removed {what}, as {reason}; now {invoice.currency.format(invoice.total)}",
                )
                emit("InvoiceLinesRemoved", invoice_id=invoice.pk, client_id=invoice.client_id, lines=len(withdrawn))
                return WithdrawalOutcome(Withdrawal.LINES_REMOVED)
        why = withdrawal_kept_words(kept)
        activity_record(
            actor=actor,
            action="invoice_lines_kept",
            subject=invoice,
            client_id=invoice.client_id,
            message=f"{invoice} still bills {what or 'the withdrawn lines'}, though {reason}: {why}; an admin decides",
        )
        return kept


def invoice_send_to_collections(*, invoice_id: int, actor: Actor, reason: str = "") -> Invoice:
    with transaction.atomic():
        invoice = invoice_locked(invoice_id)
        _move(
            invoice,
            invoice.send_to_collections,
            label="sent to collections",
            action="invoice_collections",
            message=f"{invoice} sent to collections" + (f": {reason}" if reason else ""),
            event="InvoiceCollections",
            actor=actor,
        )
    return invoice


def invoice_send(*, invoice_id: int, actor: Actor) -> Invoice:
    """Queue an email of the invoice to the client (again), its PDF attached; it is sent after commit.
    Each call queues a new email: an admin pressing "resend" means it."""
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update().select_related("client", "currency").get(pk=invoice_id)
        if invoice.status == Invoice.Status.DRAFT:
            raise ValidationError(f"{invoice} is a draft: issue it before sending it.")
        now = timezone.now()
        email_queue(
            template="invoice",
            to_address=invoice.client.email,
            idempotency_key=f"invoice:{invoice.pk}:sent:{now.isoformat()}",
            # The amount with its currency, so whatever renders the email writes it with billing.money.format_money.
            context={
                "invoice_id": invoice.pk,
                "number": invoice.number or "",
                "balance_due": str(invoice.balance_due),
                "currency": invoice.currency.code,
                "due_date": invoice.due_date.isoformat(),
            },
            client_id=invoice.client_id,
            attachments=invoice_pdf_reference(invoice.pk),
        )
        if invoice.sent_at is None:
            invoice.sent_at = now
            invoice.save(update_fields=["sent_at", "updated_at"])
        activity_record(
            actor=actor,
            action="invoice_sent",
            subject=invoice,
            client_id=invoice.client_id,
            message=f"Email of {invoice} to {invoice.client.email} queued",
        )
        emit("InvoiceSent", invoice_id=invoice.pk, client_id=invoice.client_id)
    return invoice


def _return_money_to_credit(invoice: Invoice, *, actor: Actor) -> None:
    """A cancelled invoice keeps no money: the credit applied and any partial payment go to the client's credit."""
    if invoice.credit_applied > 0 or invoice.amount_paid > 0:
        credit_return_from_invoice(invoice=invoice, actor=actor)


def invoice_reopen_if_cancelled(*, invoice_id: int, actor: Actor) -> Invoice | None:
    """Reopen a cancelled invoice as Unpaid (its order was set back to pending); any other is left alone."""
    with transaction.atomic():
        invoice = invoice_locked(invoice_id)
        if invoice.status != Invoice.Status.CANCELLED:
            return None
        _move(
            invoice,
            invoice.reopen,
            label="reopened",
            action="invoice_reopened",
            message=f"{invoice} reopened as Unpaid",
            event="InvoiceUnpaid",
            actor=actor,
        )
    return invoice


def invoice_delete(*, invoice: Invoice, actor: Actor) -> None:
    """Delete an invoice no money has touched; anything paid, credited or with payments stays on the books."""
    with transaction.atomic():
        invoice = invoice_locked(invoice.pk)
        if blocker := invoice_delete_blocker(invoice=invoice):
            raise ValidationError(invoice_delete_blocker_words(invoice, blocker), code=blocker.value)
        activity_record(
            actor=actor,
            action="invoice_deleted",
            subject=invoice,
            client_id=invoice.client_id,
            message=f"{invoice} deleted",
        )
        invoice.delete()


# What the admin's invoice page edits: everything else follows from lines, payments and transitions.
INVOICE_EDITABLE_FIELDS = ("notes",)


def invoice_update(*, invoice_id: int, changes: dict, actor: Actor) -> Invoice:
    """An admin's edit of an invoice's own text (its notes), under its lock, logged before and after. Amounts,
    dates and the status move only through the invoice's services, so they are refused here."""
    unknown = set(changes) - set(INVOICE_EDITABLE_FIELDS)
    if unknown:
        raise ValidationError(f"These invoice fields cannot be changed here: {', '.join(sorted(unknown))}.")
    with transaction.atomic():
        invoice = invoice_locked(invoice_id)
        before = {field: getattr(invoice, field) for field in INVOICE_EDITABLE_FIELDS}
        for field, value in changes.items():
            setattr(invoice, field, value)
        invoice.full_clean(exclude=["status"])
        after = {field: getattr(invoice, field) for field in INVOICE_EDITABLE_FIELDS}
        changed = [field for field in INVOICE_EDITABLE_FIELDS if after[field] != before[field]]
        if not changed:
            return invoice
        invoice.save(update_fields=[*changed, "updated_at"])
        activity_record(
            actor=actor,
            action="invoice_changed",
            subject=invoice,
            client_id=invoice.client_id,
            message=f"{invoice} changed: " + changes_described(before, after, fields=changed),
        )
    return invoice

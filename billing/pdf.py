"""The invoice PDF, rendered with WeasyPrint once per invoice state and kept in InvoicePdf.

`invoice_pdf` reads what the document shows in three queries (the invoice with its client, currency and stored
PDF; its items; its transactions), hashes that into a state key and returns the stored bytes when the key
matches. Otherwise it renders from that same snapshot, stores the new bytes over the old ones and returns them.
The key is checked on every download, so a stale document is never served, whatever made the change.
"""

from __future__ import annotations

import base64
import datetime
import functools
import hashlib
import importlib.metadata
import json
import logging
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.template.loader import get_template, render_to_string
from django.utils import timezone

from billing.invoice_rows import invoice_totals, transaction_amount
from billing.models import Client, Currency, Invoice, InvoiceItem, InvoicePdf, Transaction
from notifications.emails.attachments import Attachment

logger = logging.getLogger(__name__)

TEMPLATE_NAME = "billing/invoice_pdf.html"
STYLESHEET_NAME = "billing/pdf/invoice.css"
# Part of every state key: bump it when the context built here changes what the PDF shows.
LAYOUT_VERSION = "2"
# Renders since the process started: tests and the benchmark tell a cached download from a render with it.
render_count = 0

EN_DASH = "\u2013"  # typeset, unlike "-"
_LOGO_TYPES = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg"}
_UNSAFE_FILENAME_CHARS = re.compile(r"[^A-Za-z0-9._-]+")
_STATUS_STAMPS = {status: status.label.upper() for status in Invoice.Status}
_TRANSACTION_KINDS = dict(Transaction.Kind.choices)

# What the PDF shows of each row. `updated_at` moves with every change a service makes to the invoice.
_INVOICE_FIELDS = (
    "pk",
    "status",
    "number",
    "date",
    "due_date",
    "paid_at",
    "updated_at",
    "subtotal",
    "tax_1",
    "tax_2",
    "tax_1_name",
    "tax_1_rate",
    "tax_2_name",
    "tax_2_rate",
    "tax_compound",
    "prices_include_tax",
    "credit_applied",
    "total",
    "amount_paid",
    "amount_refunded",
    "balance_due",
    "notes",
)
_CURRENCY_FIELDS = ("code", "prefix", "suffix", "decimal_places")
_CLIENT_FIELDS = (
    "company_name",
    "contact_name",
    "email",
    "address_1",
    "address_2",
    "city",
    "state",
    "postcode",
    "country",
)
# Items and transactions are read as plain rows: building model instances would cost a cached download more
# than its queries do.
_ITEM_FIELDS = ("pk", "kind", "description", "amount", "taxed", "period_start", "period_end")
_TRANSACTION_FIELDS = (
    "pk",
    "kind",
    "date",
    "gateway",
    "gateway_transaction_id",
    "amount_in",
    "amount_out",
    "credit_change",
)


# --- public ----------------------------------------------------------------------------------------------------


def invoice_pdf(invoice: Invoice | int) -> bytes:
    """The PDF of the invoice as it is now: the stored one when nothing it shows has changed, else a fresh render
    that replaces it. Takes an id or an invoice (only its id is used: a stale instance never gives a stale PDF).
    Raises Invoice.DoesNotExist for an unknown id."""
    global render_count
    snapshot = _snapshot_load(_invoice_id(invoice))
    state_key = _state_key(snapshot)
    stored = snapshot.stored_pdf
    if stored is not None and stored.state_key == state_key:
        return bytes(stored.content)

    started = time.perf_counter()
    content = _render(render_to_string(TEMPLATE_NAME, _context(snapshot)))
    render_count += 1
    logger.info(
        "Rendered the PDF of invoice %s in %.0f ms (%d bytes)",
        snapshot.invoice.pk,
        (time.perf_counter() - started) * 1000,
        len(content),
    )
    _store(snapshot.invoice.pk, state_key=state_key, content=content)
    return content


def invoice_pdf_filename(invoice: Invoice) -> str:
    """`INV-2026-000123.pdf`, or `proforma-123.pdf` / `draft-123.pdf` before the invoice has a number. Only ASCII
    letters, digits, dots, dashes and underscores, so it goes into a Content-Disposition header as it is."""
    if invoice.number:
        stem = _UNSAFE_FILENAME_CHARS.sub("-", invoice.number).strip(".-") or f"invoice-{invoice.pk}"
    elif invoice.status == Invoice.Status.DRAFT:
        stem = f"draft-{invoice.pk}"
    else:
        stem = f"proforma-{invoice.pk}"
    return f"{stem}.pdf"


INVOICE_PDF = "invoice_pdf"  # the attachment kind of an invoice's PDF on an email


def invoice_pdf_reference(invoice_id: int) -> list[dict]:
    """The attachments of an invoice email: its PDF, rendered when the email is sent."""
    return [{"kind": INVOICE_PDF, "invoice_id": invoice_id}]


def invoice_pdf_attachment(reference: dict) -> Attachment:
    """The renderer of emails' {"kind": "invoice_pdf", "invoice_id": N} attachments (registered by billing's
    ready(); notifications, below billing, stores only the reference)."""
    invoice = Invoice.objects.only("number", "status").get(pk=reference["invoice_id"])
    return Attachment(
        filename=invoice_pdf_filename(invoice), content=invoice_pdf(invoice.pk), mimetype="application/pdf"
    )


def invoice_pdf_html(invoice: Invoice | int) -> str:
    """The HTML the PDF of the invoice, as it is now in the database, is rendered from."""
    return render_to_string(TEMPLATE_NAME, _context(_snapshot_load(_invoice_id(invoice))))


# --- what the PDF shows ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Snapshot:
    invoice: Invoice  # with its client, currency and stored PDF
    items: list[Any]  # rows of _ITEM_FIELDS, in the order they were added
    transactions: list[Any]  # rows of _TRANSACTION_FIELDS, in the order they happened

    @property
    def stored_pdf(self) -> InvoicePdf | None:
        try:
            return self.invoice.pdf
        except InvoicePdf.DoesNotExist:
            return None


def _invoice_id(invoice: Invoice | int) -> int:
    return invoice.pk if isinstance(invoice, Invoice) else invoice


def _snapshot_load(invoice_id: int) -> _Snapshot:
    invoice = Invoice.objects.select_related("client", "currency", "pdf").get(pk=invoice_id)
    items = InvoiceItem.objects.filter(invoice_id=invoice_id).order_by("id").values_list(*_ITEM_FIELDS, named=True)
    transactions = (
        Transaction.objects.filter(invoice_id=invoice_id)
        .order_by("date", "id")
        .values_list(*_TRANSACTION_FIELDS, named=True)
    )
    return _Snapshot(invoice=invoice, items=list(items), transactions=list(transactions))


def _state_key(snapshot: _Snapshot) -> str:
    """A hash of everything the PDF shows, and of the template, stylesheet and settings it is drawn with."""
    invoice = snapshot.invoice
    state = [
        LAYOUT_VERSION,
        _weasyprint_version(),
        _template_stamp(),
        _company_stamp(),
        settings.TIME_ZONE,
        [getattr(invoice, field) for field in _INVOICE_FIELDS],
        [getattr(invoice.currency, field) for field in _CURRENCY_FIELDS],
        [getattr(invoice.client, field) for field in _CLIENT_FIELDS],
        snapshot.items,
        snapshot.transactions,
    ]
    return hashlib.sha256(json.dumps(state, default=str).encode()).hexdigest()


def _store(invoice_id: int, *, state_key: str, content: bytes) -> None:
    """Keep the new render, replacing the old one. Two downloads rendering at once both write and the last write
    wins, which is harmless: a key that no longer matches the invoice only costs one more render later."""
    try:
        with transaction.atomic():
            InvoicePdf.objects.update_or_create(
                invoice_id=invoice_id,
                defaults={"state_key": state_key, "content": content, "rendered_at": timezone.now()},
            )
    except IntegrityError:
        # The other render inserted the row between our look-up and our insert: write ours over it.
        InvoicePdf.objects.filter(invoice_id=invoice_id).update(
            state_key=state_key, content=content, rendered_at=timezone.now()
        )


# --- stamps of what the PDF is drawn with ----------------------------------------------------------------------


@functools.cache
def _weasyprint_version() -> str:
    return importlib.metadata.version("weasyprint")


def _file_stamp(path: str | os.PathLike) -> list:
    try:
        stat = os.stat(path)
    except OSError:
        return [str(path), "missing"]
    return [str(path), stat.st_mtime_ns, stat.st_size]


def _stylesheet_path() -> Path:
    return Path(get_template(STYLESHEET_NAME).origin.name)


def _template_stamp() -> list:
    return [_file_stamp(get_template(TEMPLATE_NAME).origin.name), _file_stamp(_stylesheet_path())]


def _company_stamp() -> list:
    logo = settings.PORTAL_COMPANY_LOGO
    return [
        settings.PORTAL_COMPANY_NAME,
        settings.PORTAL_COMPANY_ADDRESS,
        settings.PORTAL_COMPANY_TAX_ID,
        settings.PORTAL_COMPANY_EMAIL,
        _file_stamp(logo) if logo else None,
    ]


# --- context ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _LineRow:
    description: str
    period: str
    amount: str
    taxed: bool


@dataclass(frozen=True)
class _TransactionRow:
    date: datetime.datetime
    kind: str
    gateway: str
    reference: str
    amount: str


def _context(snapshot: _Snapshot) -> dict:
    invoice = snapshot.invoice
    money = invoice.currency.format
    if invoice.number:
        title, number_label = f"Invoice {invoice.number}", invoice.number
    elif invoice.status == Invoice.Status.DRAFT:
        title, number_label = "Draft invoice", "Draft"
    else:
        title, number_label = "Proforma invoice", "Proforma"
    charges_tax = invoice.tax_1_rate > 0 or invoice.tax_2_rate > 0
    return {
        "title": title,
        "number_label": number_label,
        "stamp": _STATUS_STAMPS.get(invoice.status, str(invoice.status).upper()),
        "invoice": invoice,
        "company": _company(),
        "client_lines": _client_lines(invoice.client),
        "lines": [
            _LineRow(
                description=item.description,
                period=_period(item.period_start, item.period_end),
                amount=money(item.amount),
                taxed=item.taxed,
            )
            for item in snapshot.items
        ],
        "has_taxed_lines": charges_tax and any(item.taxed for item in snapshot.items),
        "totals": invoice_totals(invoice),
        "transactions": [_transaction_row(tx, invoice.currency) for tx in snapshot.transactions],
    }


def _company() -> dict:
    return {
        "name": settings.PORTAL_COMPANY_NAME,
        "address_lines": [line.strip() for line in settings.PORTAL_COMPANY_ADDRESS.splitlines() if line.strip()],
        "tax_id": settings.PORTAL_COMPANY_TAX_ID,
        "email": settings.PORTAL_COMPANY_EMAIL,
        "logo_data_uri": _logo_data_uri(settings.PORTAL_COMPANY_LOGO),
    }


def _logo_data_uri(path: str) -> str | None:
    """The logo inlined, so the renderer fetches nothing; None (the company name is printed instead) when it is
    not set or cannot be used."""
    if not path:
        return None
    try:
        content = Path(path).read_bytes()
    except OSError as error:
        logger.warning("PORTAL_COMPANY_LOGO %r cannot be read (%s): invoices show the company name", path, error)
        return None
    media_type = next((media for magic, media in _LOGO_TYPES.items() if content.startswith(magic)), None)
    if media_type is None:
        logger.warning("PORTAL_COMPANY_LOGO %r is not a PNG or JPEG file: invoices show the company name", path)
        return None
    return f"data:{media_type};base64,{base64.b64encode(content).decode('ascii')}"


def _client_lines(client: Client) -> list[str]:
    city_line = " ".join(part for part in (client.postcode, client.city) if part)
    lines = [
        client.company_name,
        client.contact_name,
        client.address_1,
        client.address_2,
        city_line,
        client.state,
        client.country,
        client.email,
    ]
    return [line for line in lines if line]


def _day(day: datetime.date) -> str:
    return f"{day.day} {day:%b %Y}"  # as the template writes dates: 1 Mar 2026


def _period(start: datetime.date | None, end: datetime.date | None) -> str:
    if start and end:
        return f"{_day(start)} {EN_DASH} {_day(end)}"
    if start:
        return f"from {_day(start)}"
    return ""


def _transaction_row(tx: Any, currency: Currency) -> _TransactionRow:
    return _TransactionRow(
        date=tx.date,
        kind=_TRANSACTION_KINDS.get(tx.kind, tx.kind),
        gateway=tx.gateway,
        reference=tx.gateway_transaction_id,
        amount=transaction_amount(
            amount_in=tx.amount_in, amount_out=tx.amount_out, credit_change=tx.credit_change, currency=currency
        ),
    )


# --- rendering -------------------------------------------------------------------------------------------------


class _Renderer:
    """What the renders of one thread share: the font configuration (building one reads the system's font list,
    which costs about as much as laying out a page) and the parsed stylesheet, parsed again when its file changes.
    The invoice uses no @font-face, so nothing piles up in them from one render to the next."""

    def __init__(self):
        # Imported here: loading WeasyPrint and its Pango libraries takes seconds, paid by the first render rather
        # than by every process that imports billing.
        import weasyprint
        from weasyprint.text.fonts import FontConfiguration

        self._weasyprint = weasyprint
        self.font_config = FontConfiguration()
        # Everything the document needs is inline (the logo is a data URI): any other URL is refused, not fetched.
        self.url_fetcher = weasyprint.URLFetcher(allowed_protocols={"data"})
        self.stylesheet = None
        self.stylesheet_stamp = None

    def render(self, html: str) -> bytes:
        path = _stylesheet_path()
        stamp = _file_stamp(path)
        if self.stylesheet is None or stamp != self.stylesheet_stamp:
            self.stylesheet = self._weasyprint.CSS(
                string=path.read_text(encoding="utf-8"), font_config=self.font_config, url_fetcher=self.url_fetcher
            )
            self.stylesheet_stamp = stamp
        document = self._weasyprint.HTML(string=html, base_url=path.parent.as_uri() + "/", url_fetcher=self.url_fetcher)
        return document.write_pdf(font_config=self.font_config, stylesheets=[self.stylesheet])


_thread = threading.local()


def _render(html: str) -> bytes:
    renderer = getattr(_thread, "renderer", None)
    if renderer is None:
        renderer = _thread.renderer = _Renderer()
    return renderer.render(html)

"""The invoice PDF: what it shows, rendered once per invoice state and served from InvoicePdf after that.

WeasyPrint cannot read text back out of a PDF and no PDF reader is installed, so what the document shows is
asserted on the HTML it is rendered from (`invoice_pdf_html`), and the PDF itself on its header, its page count
and its metadata (WeasyPrint keeps those in zlib-compressed object streams, unpacked here)."""

import datetime
import re
import struct
import threading
import zlib
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

import billing.pdf as pdf_module
from billing.models import BillingSettings, Invoice, InvoicePdf, TaxRule
from billing.money import MINUS
from billing.pdf import EN_DASH, invoice_pdf, invoice_pdf_filename, invoice_pdf_html
from billing.services import (
    InvoiceLine,
    credit_add,
    credit_apply,
    invoice_cancel,
    invoice_send_to_collections,
    refund_record,
)
from tests.factories import InvoiceFactory, TransactionFactory

ISSUED = datetime.date(2026, 3, 1)
DUE = datetime.date(2026, 3, 15)
PAID_AT = datetime.datetime(2026, 3, 10, 12, 0, tzinfo=datetime.UTC)


@pytest.fixture(autouse=True)
def company(settings):
    settings.PORTAL_COMPANY_NAME = "Acme Hosting GmbH"
    settings.PORTAL_COMPANY_ADDRESS = "Hosting Street 1\n10115 Berlin\nGermany"
    settings.PORTAL_COMPANY_TAX_ID = "DE123456789"
    settings.PORTAL_COMPANY_EMAIL = "billing@acme.example"
    settings.PORTAL_COMPANY_LOGO = ""
    return settings


@pytest.fixture
def client_with_address(customer):
    customer.company_name = "Kunde & Söhne GmbH"
    customer.contact_name = "Erika Mustermann"
    customer.address_1 = "Hauptstraße 5"
    customer.address_2 = "Hinterhaus"
    customer.postcode = "80331"
    customer.city = "München"
    customer.state = "Bayern"
    customer.save()
    return customer


@pytest.fixture
def two_taxes(db):
    TaxRule.objects.create(level=1, name="VAT", country="DE", rate=Decimal("19"))
    TaxRule.objects.create(level=2, name="City tax", country="DE", rate=Decimal("2.5"))


def _lines():
    return [
        InvoiceLine(
            kind="manual",
            description="Starter hosting shop.example.com",
            amount=Decimal("10.00"),
            taxed=True,
            period_start=datetime.date(2026, 3, 1),
            period_end=datetime.date(2026, 3, 31),
        ),
        InvoiceLine(kind="manual", description="Domain shop-example.com", amount=Decimal("12.99"), taxed=True),
        InvoiceLine(kind="manual", description="Setup fee", amount=Decimal("5.00"), taxed=False),
    ]


def _invoice(client, *, lines=None, status=Invoice.Status.UNPAID) -> Invoice:
    """Issued on ISSUED, due on DUE, with the three lines above unless told."""
    return InvoiceFactory(client=client, lines=lines or _lines(), issue_date=ISSUED, due_date=DUE, status=status)


def _pay(invoice, amount, reference, *, paid_at=PAID_AT):
    return TransactionFactory(invoice=invoice, amount=amount, gateway_transaction_id=reference, paid_at=paid_at)


def _html(invoice) -> str:
    return invoice_pdf_html(invoice)  # read again from the database, as a download does


def _transaction_rows(html: str) -> list[list[str]]:
    table = html.split('<table class="transactions">', 1)[1].split("</table>", 1)[0]
    return [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", table) if "<td" in row]


def _pdf_objects(content: bytes) -> bytes:
    """The PDF's objects as bytes, with its compressed streams unpacked."""
    parts = [content]
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", content, re.S):
        try:
            parts.append(zlib.decompress(match.group(1)))
        except zlib.error:
            continue
    return b"\n".join(parts)


def _page_count(content: bytes) -> int:
    return int(re.search(rb"/Type\s*/Pages\b.*?/Count\s+(\d+)", _pdf_objects(content), re.S).group(1))


def _png() -> bytes:
    """A valid 2x2 PNG, built here so the test needs no image file or library."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    pixels = b"".join(b"\x00" + b"\x1d\x35\x57" * 2 for _ in range(2))
    header = struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(pixels)) + chunk(b"IEND", b"")


# --- what it shows ---------------------------------------------------------------------------------------------


def test_the_pdf_of_an_invoice_is_one_a4_page_titled_with_its_number(client_with_address, two_taxes):
    invoice = _invoice(client_with_address)

    content = invoice_pdf(invoice.pk)

    assert content.startswith(b"%PDF-")
    assert _page_count(content) == 1
    objects = _pdf_objects(content)
    assert f"/Title (Invoice {invoice.number})".encode() in objects
    assert b"/MediaBox [0 0 595.275591 841.889764]" in objects  # A4 in points


def test_the_pdf_shows_company_client_number_dates_lines_taxes_and_totals(client_with_address, two_taxes):
    invoice = _invoice(client_with_address)

    html = _html(invoice)

    for company_detail in ("Acme Hosting GmbH", "Hosting Street 1", "10115 Berlin", "DE123456789"):
        assert company_detail in html
    for address_line in ("Kunde &amp; Söhne GmbH", "Erika Mustermann", "Hauptstraße 5", "Hinterhaus", "80331 München"):
        assert address_line in html
    assert invoice.number.startswith("INV-2026-")
    assert f"<h1>Invoice {invoice.number}</h1>" in html
    assert "1 Mar 2026" in html and "15 Mar 2026" in html
    assert "Starter hosting shop.example.com" in html and f"1 Mar 2026 {EN_DASH} 31 Mar 2026" in html
    assert "Domain shop-example.com" in html and "$12.99" in html
    # 10.00 and 12.99 are taxed: VAT 1.90 + 2.47, city tax 0.25 + 0.32; the setup fee is not.
    assert re.search(r"Subtotal</td><td class=\"num\">\$27\.99<", html)
    assert re.search(r"VAT 19%</td><td class=\"num\">\$4\.37<", html)
    assert re.search(r"City tax 2\.5%</td><td class=\"num\">\$0\.57<", html)
    assert re.search(r"Total</td><td class=\"num\">\$32\.93<", html)
    assert re.search(r"Amount paid</td><td class=\"num\">\$0\.00<", html)
    assert re.search(r"Balance due</td><td class=\"num\">\$32\.93<", html)
    assert 'class="stamp stamp-unpaid">UNPAID<' in html
    assert "Transactions" not in html


def test_payments_credit_and_refunds_appear_in_the_totals_and_the_transactions_table(client_with_address):
    invoice = _invoice(client_with_address)  # 27.99, no taxes
    credit_add(client_id=client_with_address.pk, amount=Decimal("5.00"), reason="Goodwill", actor=None)
    credit_apply(invoice_id=invoice.pk, actor=None)
    _pay(invoice, "10.00", "BT-1", paid_at=timezone.now())
    payment = _pay(invoice, "12.99", "BT-2", paid_at=timezone.now())
    refund_record(payment_id=payment.pk, amount=Decimal("2.99"), gateway_refund_id="RF-1", actor=None)

    html = _html(invoice)

    assert re.search(rf"Credit applied</td><td class=\"num\">{MINUS}\$5\.00<", html)
    assert re.search(r"Total</td><td class=\"num\">\$22\.99<", html)
    assert re.search(r"Amount paid</td><td class=\"num\">\$22\.99<", html)
    assert re.search(rf"Refunded</td><td class=\"num\">{MINUS}\$2\.99<", html)
    # In the order they happened, each with what it did for the invoice.
    assert [(kind, gateway, reference, amount) for _, kind, gateway, reference, amount in _transaction_rows(html)] == [
        ("Credit applied", "credit", "", "$5.00"),
        ("Payment", "banktransfer", "BT-1", "$10.00"),
        ("Payment", "banktransfer", "BT-2", "$12.99"),
        ("Refund", "banktransfer", "RF-1", f"{MINUS}$2.99"),
    ]


def _cancel(invoice):
    invoice_cancel(invoice_id=invoice.pk, actor=None)


def _send_to_collections(invoice):
    invoice_send_to_collections(invoice_id=invoice.pk, actor=None)


def _pay_in_full(invoice):
    _pay(invoice, str(invoice.total), "BT-FULL")


def _refund_in_full(invoice):
    payment = _pay(invoice, str(invoice.total), "BT-FULL")
    refund_record(payment_id=payment.pk, amount=invoice.total, gateway_refund_id="RF-FULL", actor=None)


@pytest.mark.parametrize(
    ("bring_to_status", "stamp"),
    [
        (lambda invoice: None, "UNPAID"),
        (_pay_in_full, "PAID"),
        (_cancel, "CANCELLED"),
        (_send_to_collections, "COLLECTIONS"),
        (_refund_in_full, "REFUNDED"),
    ],
)
def test_the_status_stamp_says_where_the_invoice_stands(client_with_address, bring_to_status, stamp):
    invoice = _invoice(client_with_address)
    bring_to_status(invoice)

    html = _html(invoice)

    assert f'class="stamp stamp-{stamp.lower()}">{stamp}<' in html


def test_a_draft_shows_draft_instead_of_a_number(client_with_address):
    draft = _invoice(client_with_address, status=Invoice.Status.DRAFT)

    html = _html(draft)

    assert draft.number is None
    assert "<h1>Draft invoice</h1>" in html
    assert 'Number</td><td class="num">Draft<' in html
    assert f'Reference</td><td class="num">#{draft.pk}<' in html
    assert 'class="stamp stamp-draft">DRAFT<' in html
    assert invoice_pdf(draft.pk).startswith(b"%PDF-")
    assert invoice_pdf_filename(draft) == f"draft-{draft.pk}.pdf"


def test_a_proforma_invoice_shows_proforma_until_it_is_paid(client_with_address):
    billing = BillingSettings.load()
    billing.number_on_payment = True
    billing.save()
    proforma = _invoice(client_with_address)

    assert proforma.number is None
    assert "<h1>Proforma invoice</h1>" in _html(proforma)
    assert invoice_pdf_filename(proforma) == f"proforma-{proforma.pk}.pdf"

    _pay_in_full(proforma)
    proforma.refresh_from_db()
    assert f"<h1>Invoice {proforma.number}</h1>" in _html(proforma)


def test_what_clients_type_is_escaped(client_with_address):
    remote_image = '<img src="http://attacker.example/x.png">'
    lines = [InvoiceLine(kind="manual", description=remote_image, amount=Decimal("1.00"))]
    invoice = _invoice(client_with_address, lines=lines)

    html = _html(invoice)

    assert "&lt;img src=&quot;http://attacker.example/x.png&quot;&gt;" in html
    assert "<img" not in html


def test_a_long_invoice_runs_onto_more_pages(client_with_address):
    lines = [InvoiceLine(kind="manual", description=f"Service {n}", amount=Decimal("1.00")) for n in range(80)]
    invoice = _invoice(client_with_address, lines=lines)

    assert _page_count(invoice_pdf(invoice.pk)) >= 2


# --- the logo --------------------------------------------------------------------------------------------------


def test_the_logo_is_embedded_in_the_pdf(client_with_address, company, tmp_path):
    logo = tmp_path / "logo.png"
    logo.write_bytes(_png())
    company.PORTAL_COMPANY_LOGO = str(logo)
    invoice = _invoice(client_with_address)

    html = _html(invoice)
    content = invoice_pdf(invoice.pk)

    assert '<img class="logo" src="data:image/png;base64,' in html
    assert b"/Subtype /Image" in _pdf_objects(content)


@pytest.mark.parametrize("logo_content", [None, b"not an image"], ids=["missing file", "not a PNG or JPEG"])
def test_a_logo_that_cannot_be_used_gives_the_company_name_and_still_renders(
    client_with_address, company, tmp_path, logo_content
):
    logo = tmp_path / "logo.png"
    if logo_content is not None:
        logo.write_bytes(logo_content)
    company.PORTAL_COMPANY_LOGO = str(logo)
    invoice = _invoice(client_with_address)

    html = _html(invoice)
    content = invoice_pdf(invoice.pk)

    assert '<div class="company-name">Acme Hosting GmbH</div>' in html
    assert "<img" not in html
    assert content.startswith(b"%PDF-")


# --- rendered once per state -----------------------------------------------------------------------------------


def test_a_second_download_returns_the_stored_pdf_without_rendering(client_with_address, two_taxes):
    invoice = _invoice(client_with_address)
    first = invoice_pdf(invoice.pk)
    renders = pdf_module.render_count
    stored = InvoicePdf.objects.get(invoice=invoice)

    second = invoice_pdf(invoice)

    assert second == first == bytes(stored.content)
    assert pdf_module.render_count == renders
    assert InvoicePdf.objects.get(invoice=invoice).rendered_at == stored.rendered_at


@pytest.mark.parametrize(("line_count", "payment_count"), [(1, 0), (30, 3)])
def test_the_cached_download_takes_three_queries_however_long_the_invoice(
    client_with_address, django_assert_max_num_queries, line_count, payment_count
):
    lines = [InvoiceLine(kind="manual", description=f"Line {n}", amount=Decimal("10.00")) for n in range(line_count)]
    invoice = _invoice(client_with_address, lines=lines)
    for n in range(payment_count):
        _pay(invoice, "1.00", f"BT-{n}")
    invoice_pdf(invoice.pk)
    renders = pdf_module.render_count

    with django_assert_max_num_queries(3):
        invoice_pdf(invoice.pk)

    assert pdf_module.render_count == renders


def test_a_payment_renders_again_and_the_new_pdf_shows_paid(client_with_address, two_taxes):
    invoice = _invoice(client_with_address)
    before = invoice_pdf(invoice.pk)
    stale_instance = Invoice.objects.get(pk=invoice.pk)
    renders = pdf_module.render_count

    _pay_in_full(invoice)
    after = invoice_pdf(stale_instance)  # only the id of an instance counts: no stale PDF from a stale instance

    assert pdf_module.render_count == renders + 1
    assert after != before
    assert bytes(InvoicePdf.objects.get(invoice=invoice).content) == after
    assert InvoicePdf.objects.filter(invoice=invoice).count() == 1
    html = _html(invoice)
    assert 'class="stamp stamp-paid">PAID<' in html
    assert 'Paid on</td><td class="num">10 Mar 2026<' in html
    assert [row[0] for row in _transaction_rows(html)] == ["10 Mar 2026"]
    assert re.search(r"Balance due</td><td class=\"num\">\$0\.00<", html)
    invoice_pdf(invoice.pk)
    assert pdf_module.render_count == renders + 1  # and the new state is cached in its turn


def test_a_change_of_the_client_address_renders_again(client_with_address):
    invoice = _invoice(client_with_address)
    invoice_pdf(invoice.pk)
    renders = pdf_module.render_count

    client_with_address.address_1 = "Neue Straße 9"
    client_with_address.save()
    invoice_pdf(invoice.pk)

    assert pdf_module.render_count == renders + 1
    assert "Neue Straße 9" in _html(invoice)


def test_a_change_of_the_company_details_renders_again(client_with_address, company):
    invoice = _invoice(client_with_address)
    invoice_pdf(invoice.pk)
    renders = pdf_module.render_count

    company.PORTAL_COMPANY_ADDRESS = "New Street 2\n10117 Berlin"
    invoice_pdf(invoice.pk)

    assert pdf_module.render_count == renders + 1


def test_an_unknown_invoice_raises_does_not_exist(db):
    with pytest.raises(Invoice.DoesNotExist):
        invoice_pdf(999_999)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_downloads_rendering_at_once_both_get_the_pdf(client_with_address):
    invoice = _invoice(client_with_address)
    start = threading.Barrier(2)
    results, errors = {}, []

    def download(key):
        try:
            start.wait(10)
            results[key] = invoice_pdf(invoice.pk)
        except Exception as exc:  # reported below, whatever a render raised
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=download, args=(key,)) for key in ("first", "second")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == []
    assert results["first"].startswith(b"%PDF-") and results["second"].startswith(b"%PDF-")
    assert InvoicePdf.objects.filter(invoice=invoice).count() == 1


# --- the file name ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "status", "filename"),
    [
        ("INV-2026-000123", Invoice.Status.UNPAID, "INV-2026-000123.pdf"),
        ("INV/2026/7", Invoice.Status.PAID, "INV-2026-7.pdf"),
        ('Rechnung "5"; ü', Invoice.Status.PAID, "Rechnung-5.pdf"),
        ("../..", Invoice.Status.PAID, "invoice-123.pdf"),
        (None, Invoice.Status.UNPAID, "proforma-123.pdf"),
        (None, Invoice.Status.DRAFT, "draft-123.pdf"),
    ],
)
def test_the_file_name_is_safe_for_a_content_disposition_header(number, status, filename):
    invoice = Invoice(pk=123, number=number, status=status)

    assert invoice_pdf_filename(invoice) == filename
    assert re.fullmatch(r"[A-Za-z0-9._-]+", invoice_pdf_filename(invoice))

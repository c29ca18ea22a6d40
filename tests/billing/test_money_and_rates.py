"""One way to write money and one way to write a rate, on the client-area invoice page, the PDF and the admin:
`-€9.65 EUR` with a minus sign (U+2212) ahead of the prefix, `VAT 20%` (never `2E+1%`)."""

import datetime
import html
import re
import shutil
import subprocess
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from billing.models import Currency, Invoice, TaxRule
from billing.money import MINUS, format_money, format_rate
from billing.pdf import invoice_pdf, invoice_pdf_html
from billing.services import credit_add, credit_apply, payment_record, refund_record
from billing.templatetags.money import money as money_tag
from orders.models import Promotion
from orders.services.checkout import _promo_text
from tests.factories import ClientFactory, CurrencyFactory, InvoiceFactory

EUR = Currency(code="EUR", prefix="€", suffix="EUR", decimal_places=2)
USD = Currency(code="USD", prefix="$", suffix="USD", decimal_places=2)
JPY = Currency(code="JPY", prefix="¥", suffix="JPY", decimal_places=0)


# --- money -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [
        ("4.99", USD, "$4.99 USD"),
        ("-9.65", EUR, f"{MINUS}€9.65 EUR"),
        ("0", EUR, "€0.00 EUR"),
        ("-0.00", EUR, "€0.00 EUR"),  # no negative zero
        ("-0.004", EUR, "€0.00 EUR"),  # rounds to nothing: no minus either
        ("1234567.891", USD, "$1,234,567.89 USD"),
        ("-2500", USD, f"{MINUS}$2,500.00 USD"),
        ("1234.5", JPY, "¥1,235 JPY"),  # rounded half up to no places
        ("-751.4", JPY, f"{MINUS}¥751 JPY"),
        ("0", JPY, "¥0 JPY"),
    ],
)
def test_money_is_written_one_way_with_the_minus_before_the_prefix(amount, currency, text):
    assert format_money(Decimal(amount), currency) == text
    assert currency.format(Decimal(amount)) == text  # what views, services and the PDF call
    assert money_tag(Decimal(amount), currency) == text  # the pages' {% money %} tag


def test_a_currency_without_suffix_writes_no_trailing_space():
    assert format_money(Decimal("-1234.5"), Currency(prefix="$", suffix="", decimal_places=2)) == f"{MINUS}$1,234.50"


# --- rates -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rate", "text"),
    [
        (Decimal("20.0000"), "20%"),  # as an invoice stores it (4 places): normalize() alone gives 2E+1
        (Decimal("20"), "20%"),
        (Decimal("2E+1"), "20%"),
        (Decimal("100.0000"), "100%"),
        (Decimal("7.5000"), "7.5%"),
        (Decimal("19.25"), "19.25%"),
        (Decimal("0.0000"), "0%"),
        (Decimal("0.0001"), "0.0001%"),
        (20, "20%"),
    ],
)
def test_a_rate_is_written_with_the_places_it_needs_and_no_exponent(rate, text):
    assert format_rate(rate) == text


def test_a_float_rate_is_refused():
    with pytest.raises(TypeError):
        format_rate(20.0)


def test_a_tax_rule_and_a_percent_promotion_write_their_rate_the_same_way(db):
    assert str(TaxRule(name="VAT", country="DE", rate=Decimal("20.0000"), level=1)) == "VAT 20% (DE, level 1)"
    promotion = Promotion(code="TWENTY", kind=Promotion.Kind.PERCENT, value=Decimal("20.00"))
    assert _promo_text(promotion, USD) == "20% off"


# --- the invoice page and its PDF ------------------------------------------------------------------------------


@pytest.fixture
def euro_client(db):
    CurrencyFactory(code="USD", prefix="$", is_default=True)
    eur = CurrencyFactory(code="EUR", prefix="€", suffix="EUR", exchange_rate=Decimal("0.92"))
    TaxRule.objects.create(level=1, name="VAT", country="DE", rate=Decimal("20"))
    return ClientFactory(currency=eur, country="DE")


def _invoice(client, *amounts) -> Invoice:
    """Issued on 2026-03-01 with taxed lines of `amounts`."""
    return InvoiceFactory(
        client=client,
        amounts=amounts,
        taxed=True,
        issue_date=datetime.date(2026, 3, 1),
        due_date=datetime.date(2026, 3, 15),
    )


def _with_credit_payment_and_refund(client) -> Invoice:
    # 1,200.00 and a 9.65 discount: subtotal 1,190.35, VAT 20% 238.07, 9.65 of credit: total 1,418.77; paid in
    # full, then 9.65 of it refunded.
    invoice = _invoice(client, "1200.00", "-9.65")
    credit_add(client_id=client.pk, amount=Decimal("9.65"), reason="Goodwill", actor=None)
    credit_apply(invoice_id=invoice.pk, actor=None)
    payment = payment_record(
        invoice_id=invoice.pk,
        amount=Decimal("1418.77"),
        gateway="banktransfer",
        gateway_transaction_id="BT-1",
        paid_at=timezone.now(),
        actor=None,
    ).transaction
    refund_record(payment_id=payment.pk, amount=Decimal("9.65"), gateway_refund_id="RF-1", actor=None)
    return invoice


def _cells(fragment: str) -> list[str]:
    return [
        html.unescape(re.sub(r"<[^>]+>", "", cell)).strip()
        for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", fragment)
    ]


def _rows(fragment: str) -> list[list[str]]:
    return [_cells(row) for row in re.findall(r"<tr[^>]*>(.*?)</tr>", fragment, re.S) if "<td" in row]


def _page(client, invoice) -> str:
    client.force_login(invoice.client.user)
    response = client.get(reverse("clientarea:invoice_detail", args=[invoice.pk]))
    assert response.status_code == 200
    return response.content.decode()


def _page_totals(page: str) -> list[list[str]]:
    return _rows(page.split("<tfoot>", 1)[1].split("</tfoot>", 1)[0])


def _pdf_totals(pdf_html: str) -> list[list[str]]:
    return _rows(pdf_html.split('<table class="totals">', 1)[1].split("</table>", 1)[0])


def _page_section(page: str, heading: str) -> str:
    return page.split(f"<h2>{heading}</h2>", 1)[1].split("</table>", 1)[0]


def test_the_invoice_page_writes_a_20_percent_tax_as_20_not_2e1(client, euro_client):
    invoice = _invoice(euro_client, "10.00")
    assert Invoice.objects.get(pk=invoice.pk).tax_1_rate == Decimal("20.0000")

    totals = _page_totals(_page(client, invoice))

    assert ["VAT 20%", "€2.00 EUR"] in totals
    assert "E+" not in str(totals)


def test_the_page_and_the_pdf_show_the_same_totals_and_transaction_amounts(client, euro_client):
    invoice = _with_credit_payment_and_refund(euro_client)

    page, pdf_html = _page(client, invoice), invoice_pdf_html(invoice)

    expected_totals = [
        ["Subtotal", "€1,190.35 EUR"],
        ["VAT 20%", "€238.07 EUR"],
        ["Credit applied", f"{MINUS}€9.65 EUR"],
        ["Total", "€1,418.77 EUR"],
        ["Amount paid", "€1,418.77 EUR"],
        ["Refunded", f"{MINUS}€9.65 EUR"],
        ["Balance due", "€0.00 EUR"],
    ]
    assert _page_totals(page) == expected_totals
    assert _pdf_totals(pdf_html) == expected_totals
    # Lines, and what each transaction did for the invoice: credit used, money in, money back.
    page_lines = [row[-1] for row in _rows(page.split("<tbody>", 1)[1].split("</tbody>", 1)[0])]
    pdf_lines = [row[-1] for row in _rows(pdf_html.split('<table class="lines">', 1)[1].split("</table>", 1)[0])]
    assert page_lines == pdf_lines == ["€1,200.00 EUR", f"{MINUS}€9.65 EUR"]
    page_moves = [row[-1] for row in _rows(_page_section(page, "Transactions"))]
    pdf_moves = [row[-1] for row in _rows(_page_section(pdf_html, "Transactions"))]
    assert page_moves == pdf_moves == ["€9.65 EUR", "€1,418.77 EUR", f"{MINUS}€9.65 EUR"]


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs pdftotext (poppler-utils, .ci/system-deps)")
def test_the_rendered_pdf_prints_the_amounts_the_page_shows(client, euro_client, tmp_path):
    invoice = _with_credit_payment_and_refund(euro_client)
    path = tmp_path / "invoice.pdf"
    path.write_bytes(invoice_pdf(invoice.pk))

    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout

    for label, amount in _page_totals(_page(client, invoice)):
        assert re.search(rf"{re.escape(label)}\s+{re.escape(amount)}", text), (label, amount, text)


def test_a_zero_decimal_currency_reads_the_same_on_the_page_and_the_pdf(client, db):
    CurrencyFactory(code="USD", prefix="$", is_default=True)
    yen = CurrencyFactory(code="JPY", prefix="¥", suffix="JPY", decimal_places=0, exchange_rate=Decimal("150"))
    TaxRule.objects.create(level=1, name="Consumption tax", country="JP", rate=Decimal("10"))
    invoice = _invoice(ClientFactory(currency=yen, country="JP"), "12345", "-345")

    expected = [
        ["Subtotal", "¥12,000 JPY"],
        ["Consumption tax 10%", "¥1,200 JPY"],
        ["Total", "¥13,200 JPY"],
        ["Amount paid", "¥0 JPY"],
        ["Balance due", "¥13,200 JPY"],
    ]
    assert _page_totals(_page(client, invoice)) == expected
    assert _pdf_totals(invoice_pdf_html(invoice)) == expected


def test_the_admin_writes_rates_as_the_invoice_does(admin_client, euro_client):
    invoice = _invoice(euro_client, "10.00")

    rules = admin_client.get(reverse("admin:billing_taxrule_changelist")).content.decode()
    page = admin_client.get(reverse("admin:billing_invoice_change", args=[invoice.pk])).content.decode()

    assert '<td class="field-rate_display">20%</td>' in rules
    assert "VAT 20%: €2.00 EUR" in page


def test_the_admin_promotion_list_writes_a_percent_as_a_rate_and_an_amount_as_money(admin_client, db):
    usd = CurrencyFactory(code="USD", prefix="$", suffix="USD", is_default=True)
    Promotion.objects.create(code="TWENTY", kind=Promotion.Kind.PERCENT, value=Decimal("20.00"))
    Promotion.objects.create(code="FIVE", kind=Promotion.Kind.FIXED, value=Decimal("1250.00"), currency=usd)

    page = admin_client.get(reverse("admin:orders_promotion_changelist")).content.decode()

    assert '<td class="field-value_display">20%</td>' in page
    assert '<td class="field-value_display">$1,250.00 USD</td>' in page

"""billing.selectors.invoice_label: str(invoice) as the database writes it, from the invoice or across a relation."""

import datetime

import pytest

from billing.models import BillingSettings, Invoice, InvoiceItem
from billing.selectors import invoice_label
from tests.factories import InvoiceFactory

pytestmark = pytest.mark.django_db


ISSUED = datetime.date(2027, 3, 1)


@pytest.fixture
def invoices(customer):
    numbered = InvoiceFactory(client=customer, issue_date=ISSUED)
    BillingSettings.objects.filter(pk=BillingSettings.load().pk).update(number_on_payment=True)
    proforma = InvoiceFactory(client=customer, issue_date=ISSUED)  # unpaid and proforma: no number (NULL)
    empty = InvoiceFactory(client=customer, issue_date=ISSUED)
    Invoice.objects.filter(pk=empty.pk).update(number="")  # an empty number, as an older row may hold
    return numbered, proforma, empty


def test_the_invoices_are_what_the_test_needs(invoices):
    numbered, proforma, empty = invoices
    numbers = dict(Invoice.objects.values_list("pk", "number"))
    assert numbers == {numbered.pk: "INV-2027-000001", proforma.pk: None, empty.pk: ""}


def test_invoice_label_equals_str_of_the_invoice(invoices):
    numbered, proforma, empty = invoices
    labels = dict(Invoice.objects.annotate(label=invoice_label()).values_list("pk", "label"))
    assert labels == {pk: str(invoice) for pk, invoice in Invoice.objects.in_bulk().items()}
    assert labels == {
        numbered.pk: "Invoice INV-2027-000001",
        proforma.pk: f"Invoice #{proforma.pk}",
        empty.pk: f"Invoice #{empty.pk}",
    }


def test_invoice_label_across_a_relation(invoices):
    labels = dict(InvoiceItem.objects.annotate(label=invoice_label("invoice__")).values_list("invoice_id", "label"))
    assert labels == {pk: str(invoice) for pk, invoice in Invoice.objects.in_bulk().items()}
    assert len(labels) == 3

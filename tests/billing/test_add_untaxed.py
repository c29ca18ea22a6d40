"""invoices_add_untaxed stores what invoice_recalculate computes once untaxed lines are added (the late fees of the
automation run), and invoices_recalculate what it computes for a batch with taxed lines added (the domain grace and
redemption fees): under exclusive and price-inclusive taxes, one or two levels, with credit and part payments."""

import datetime
from decimal import Decimal

import pytest

from billing.models import BillingSettings, Invoice, InvoiceItem, TaxRule
from billing.services import (
    credit_add,
    credit_apply,
)
from billing.services.totals import invoice_recalculate, invoices_add_untaxed, invoices_recalculate
from tests.factories import InvoiceFactory, InvoiceItemFactory, TransactionFactory

pytestmark = pytest.mark.django_db

D = Decimal
FIELDS = ("subtotal", "tax_1", "tax_2", "credit_applied", "total", "amount_paid", "balance_due")


def _settings(**changes):
    BillingSettings.objects.filter(pk=BillingSettings.load().pk).update(**changes)


def _invoice(client, *lines):
    """Issued on 2027-01-01 with lines of (amount, taxed)."""
    amounts, taxed = zip(*lines, strict=True)
    return InvoiceFactory(
        client=client,
        amounts=amounts,
        taxed=taxed,
        issue_date=datetime.date(2027, 1, 1),
        due_date=datetime.date(2027, 1, 15),
    )


def _totals(invoice):
    return Invoice.objects.filter(pk=invoice.pk).values_list(*FIELDS).get()


def _credit(invoice, amount):
    credit_add(client_id=invoice.client_id, amount=D(amount), reason="goodwill", actor=None)
    credit_apply(invoice_id=invoice.pk, amount=D(amount), actor=None)


def _add_fee(invoice, amount):
    """A late fee's line, added without recalculating the invoice (as the automation run adds them)."""
    InvoiceItemFactory(invoice=invoice, kind=InvoiceItem.Kind.LATE_FEE, description="Fee", amount=D(amount))


@pytest.fixture
def invoices(customer):
    TaxRule.objects.create(level=1, name="VAT", country=customer.country, rate=D("19"))
    made = {}
    made["exclusive"] = _invoice(customer, ("100.00", True), ("10.00", False))
    made["exclusive, credit and part paid"] = _invoice(customer, ("100.00", True), ("10.00", False))
    _credit(made["exclusive, credit and part paid"], "4.00")
    TransactionFactory(invoice=made["exclusive, credit and part paid"], amount="50.00")
    made["exclusive, odd cents"] = _invoice(customer, ("0.05", True), ("0.05", True), ("0.10", True))
    made["paid in full"] = _invoice(customer, ("20.00", True))
    TransactionFactory(invoice=made["paid in full"], amount="23.80")

    TaxRule.objects.create(level=2, name="City tax", country=customer.country, rate=D("2.5"))
    _settings(compound_tax=True)
    made["two levels, compound"] = _invoice(customer, ("99.99", True), ("-5.00", False))
    _credit(made["two levels, compound"], "7.31")

    _settings(compound_tax=False, prices_include_tax=True)
    made["prices include tax, two levels"] = _invoice(customer, ("119.00", True), ("0.05", True))
    TransactionFactory(invoice=made["prices include tax, two levels"], amount="100.00")
    TaxRule.objects.filter(level=2).delete()
    made["prices include tax, credit and part paid"] = _invoice(customer, ("59.50", True), ("3.33", False))
    _credit(made["prices include tax, credit and part paid"], "2.00")
    TransactionFactory(invoice=made["prices include tax, credit and part paid"], amount="10.00")
    return made


def test_the_invoices_carry_the_tax_setups_they_are_meant_to(invoices):
    setups = {
        name: Invoice.objects.filter(pk=invoice.pk)
        .values_list("tax_1_rate", "tax_2_rate", "tax_compound", "prices_include_tax")
        .get()
        for name, invoice in invoices.items()
    }
    assert setups["exclusive"] == (D("19"), D("0"), False, False)
    assert setups["two levels, compound"] == (D("19"), D("2.5"), True, False)
    assert setups["prices include tax, two levels"] == (D("19"), D("2.5"), False, True)
    assert setups["prices include tax, credit and part paid"] == (D("19"), D("0"), False, True)
    assert _totals(invoices["exclusive, credit and part paid"]) == (
        D("110.00"),
        D("19.00"),
        D("0"),
        D("4.00"),
        D("125.00"),
        D("50.00"),
        D("75.00"),
    )
    assert _totals(invoices["paid in full"])[-1] == D("0")


def test_invoices_add_untaxed_stores_what_invoice_recalculate_computes(invoices, customer):
    fees = {name: D("5.00") for name in invoices}
    fees["exclusive, odd cents"] = D("0.01")
    fees["two levels, compound"] = D("12.34")
    bystander = _invoice(customer, ("30.00", True))
    before = {name: _totals(invoice) for name, invoice in invoices.items()}
    bystander_before = _totals(bystander)

    added = {}
    for name, invoice in invoices.items():
        _add_fee(invoice, fees[name])
        added[invoice.pk] = fees[name]
    # Two fees on one invoice in the same call: their sum.
    _add_fee(invoices["exclusive"], D("2.50"))
    added[invoices["exclusive"].pk] += D("2.50")
    invoices_add_untaxed(added)

    stored = {name: _totals(invoice) for name, invoice in invoices.items()}
    for name, invoice in invoices.items():
        fresh = Invoice.objects.select_related("currency").get(pk=invoice.pk)
        invoice_recalculate(fresh)
        assert _totals(invoice) == stored[name], name
        # Only the subtotal, the total and the balance moved, by the fee.
        subtotal, tax_1, tax_2, credit, total, paid, _ = before[name]
        fee = added[invoice.pk]
        assert stored[name] == (
            subtotal + fee,
            tax_1,
            tax_2,
            credit,
            total + fee,
            paid,
            max(D("0"), total + fee - paid),
        ), name
    assert _totals(bystander) == bystander_before
    assert stored["exclusive, credit and part paid"] == (
        D("115.00"),
        D("19.00"),
        D("0"),
        D("4.00"),
        D("130.00"),
        D("50.00"),
        D("80.00"),
    )
    assert stored["paid in full"][-1] == D("5.00")  # a fee on a paid invoice is owed again


def test_nothing_to_add_changes_nothing(invoices):
    before = {name: _totals(invoice) for name, invoice in invoices.items()}
    invoices_add_untaxed({})
    assert {name: _totals(invoice) for name, invoice in invoices.items()} == before


def test_invoices_recalculate_stores_what_invoice_recalculate_computes_with_taxed_lines_added(
    invoices, customer, django_assert_num_queries
):
    """The domain grace and redemption fees are taxed as their renewal line: invoices_recalculate computes a batch
    of invoices in three statements, and each comes out as invoice_recalculate would make it."""
    bystander = _invoice(customer, ("30.00", True))
    bystander_before = _totals(bystander)
    for name, invoice in invoices.items():
        InvoiceItemFactory(invoice=invoice, kind=InvoiceItem.Kind.DOMAIN_GRACE_FEE, amount=D("5.01"), taxed=True)
        if "credit" in name:
            InvoiceItemFactory(invoice=invoice, kind=InvoiceItem.Kind.DOMAIN_REDEMPTION_FEE, amount=D("80.00"))
    before = {name: _totals(invoice) for name, invoice in invoices.items()}

    with django_assert_num_queries(3):
        invoices_recalculate([invoice.pk for invoice in invoices.values()])

    stored = {name: _totals(invoice) for name, invoice in invoices.items()}
    for name, invoice in invoices.items():
        assert stored[name] != before[name], name
        fresh = Invoice.objects.select_related("currency").get(pk=invoice.pk)
        invoice_recalculate(fresh)
        assert _totals(invoice) == stored[name], name
    assert _totals(bystander) == bystander_before
    # 100 + 10 + 5.01 + 80, VAT 19% of the taxed 105.01; less 4.00 credit and 50.00 paid.
    assert stored["exclusive, credit and part paid"] == (
        D("195.01"),
        D("19.95"),
        D("0"),
        D("4.00"),
        D("210.96"),
        D("50.00"),
        D("160.96"),
    )

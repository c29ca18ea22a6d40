"""Taxes and totals: computed once, in billing.taxes, per line rounded ROUND_HALF_UP, and stored on the invoice."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from billing.models import BillingSettings, Invoice, InvoiceItem, TaxRule
from billing.money import MINUS
from billing.selectors import tax_setup_for
from billing.services import InvoiceLine, credit_add, credit_apply, invoice_create
from billing.taxes import NO_TAX, Line, TaxSetup, compute_totals, line_tax
from tests.factories import ClientFactory, InvoiceFactory, InvoiceLineFactory

D = Decimal
# No example database: nothing is written into the work tree, and every run starts from the same examples.
PROPERTY = settings(database=None, deadline=None, max_examples=300)
DB_PROPERTY = settings(
    database=None, deadline=None, max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _setup(rate_1="0", rate_2="0", *, compound=False, inclusive=False):
    return TaxSetup(rate_1=D(rate_1), rate_2=D(rate_2), compound=compound, prices_include_tax=inclusive)


def _totals(lines, setup, credit="0"):
    totals = compute_totals(
        [Line(amount=D(amount), taxed=taxed) for amount, taxed in lines], setup, places=2, credit=D(credit)
    )
    return (totals.subtotal, totals.tax_1, totals.tax_2, totals.credit_applied, totals.total)


def _amounts(*values):
    return tuple(D(value) for value in values)


# --- worked examples -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lines", "setup", "expected"),
    [
        pytest.param(
            [("100.00", True), ("20.00", False)],
            _setup("19"),
            _amounts("120.00", "19.00", "0", "0", "139.00"),
            id="exclusive, one level, the untaxed line bears no tax",
        ),
        pytest.param(
            [("100.00", True)],
            _setup("10", "5"),
            _amounts("100.00", "10.00", "5.00", "0", "115.00"),
            id="exclusive, two levels side by side",
        ),
        pytest.param(
            [("100.00", True)],
            _setup("10", "5", compound=True),
            _amounts("100.00", "10.00", "5.50", "0", "115.50"),
            id="exclusive, level 2 compounds on amount plus level 1",
        ),
        pytest.param(
            [("0.05", True)] * 3,
            _setup("10"),
            _amounts("0.15", "0.03", "0", "0", "0.18"),
            id="per line: 3 x 0.005 rounds up to 3 x 0.01 (the whole 0.015 would round to 0.02)",
        ),
        pytest.param(
            [("0.05", True)] * 3,
            _setup("19"),
            _amounts("0.15", "0.03", "0", "0", "0.18"),
            id="per line at 19%: 3 x 0.0095 -> 3 x 0.01",
        ),
        pytest.param(
            [("0.10", True)] * 3,
            _setup("15"),
            _amounts("0.30", "0.06", "0", "0", "0.36"),
            id="per line: 3 x 0.015 -> 3 x 0.02 half up (the whole 0.045 would give 0.05)",
        ),
        pytest.param(
            [("10.00", True), ("-3.00", True)],
            _setup("19"),
            _amounts("7.00", "1.33", "0", "0", "8.33"),
            id="a taxed discount lowers the tax",
        ),
        pytest.param(
            [("-30.00", True), ("50.00", False)],
            _setup("10"),
            _amounts("20.00", "0", "0", "0", "20.00"),
            id="taxes clamp at zero when taxed discounts exceed taxed charges",
        ),
        pytest.param(
            [("119.00", True)],
            _setup("19", inclusive=True),
            _amounts("100.00", "19.00", "0", "0", "119.00"),
            id="inclusive, one level",
        ),
        pytest.param(
            [("10.00", True), ("5.00", False)],
            _setup("19", inclusive=True),
            _amounts("13.40", "1.60", "0", "0", "15.00"),
            id="inclusive: net 10/1.19 = 8.40 rounded, the tax is the rest; untaxed lines as they are",
        ),
        pytest.param(
            [("115.00", True)],
            _setup("10", "5", inclusive=True),
            _amounts("100.00", "10.00", "5.00", "0", "115.00"),
            id="inclusive, two levels side by side",
        ),
        pytest.param(
            [("115.50", True)],
            _setup("10", "5", compound=True, inclusive=True),
            _amounts("100.00", "10.00", "5.50", "0", "115.50"),
            id="inclusive, compound",
        ),
        pytest.param(
            [("10.00", True)],
            _setup("0", "8", inclusive=True),
            _amounts("9.26", "0", "0.74", "0", "10.00"),
            id="inclusive, only level 2 charged",
        ),
        pytest.param(
            [("100.00", True), ("10.00", False)],
            _setup(),
            _amounts("110.00", "0", "0", "0", "110.00"),
            id="no rates: taxed lines pay nothing",
        ),
        pytest.param(
            [("100.00", True)],
            _setup("10"),
            _amounts("100.00", "10.00", "0", "0", "110.00"),
            id="no credit",
        ),
    ],
)
def test_worked_examples(lines, setup, expected):
    assert _totals(lines, setup) == expected


def test_credit_lowers_the_total():
    assert _totals([("100.00", True)], _setup("10"), credit="30.00") == _amounts("100.00", "10.00", "0", "30", "80.00")


def test_credit_is_capped_at_what_the_invoice_comes_to_and_never_negative():
    assert _totals([("100.00", False)], NO_TAX, credit="250.00")[3:] == _amounts("100.00", "0")
    assert _totals([("100.00", False)], NO_TAX, credit="-5.00")[3:] == _amounts("0", "100.00")


def test_a_negative_subtotal_is_reported_for_the_caller_to_refuse():
    assert _totals([("10.00", False), ("-15.00", False)], NO_TAX)[0] == D("-5.00")


def test_rounding_is_half_up_not_to_even():
    assert line_tax(D("0.25"), _setup("10"), 2).tax_1 == D("0.03")  # 0.025: banker's rounding would give 0.02


def test_a_currency_without_minor_units_rounds_taxes_to_whole_units():
    totals = compute_totals([Line(amount=D("999"), taxed=True)], _setup("10"), places=0)
    assert (totals.tax_1, totals.total) == (D("100"), D("1099"))


# Prices including 30% and 0.1% taxes: the net 1.10 / 1.301 rounds to 0.85, level 1 takes round(0.255) = 0.26 and
# level 2 gets what is left, 0.25 - 0.26 = -0.01, which compute_totals then clamps to 0: the client is charged 1.11.


@pytest.mark.parametrize(
    ("amount", "setup"),
    [
        (D("1.10"), _setup("30", "0.1", inclusive=True)),
        (D("0.07"), _setup("25", "1", inclusive=True)),
        (D("0.02"), _setup("27", "3", compound=True, inclusive=True)),
    ],
)
def test_with_prices_including_two_taxes_the_client_pays_the_price(amount, setup):
    taxes = line_tax(amount, setup, 2)
    assert taxes.tax_1 >= 0 and taxes.tax_2 >= 0
    assert compute_totals([Line(amount=amount, taxed=True)], setup, places=2).total == amount


# --- properties ------------------------------------------------------------------------------------------------

amounts = st.decimals(min_value=D("-500.00"), max_value=D("5000.00"), places=2, allow_nan=False, allow_infinity=False)
non_negative_amounts = st.decimals(min_value=D("0"), max_value=D("5000.00"), places=2)
rates = st.decimals(min_value=D("0"), max_value=D("30"), places=4)
credits = st.decimals(min_value=D("0"), max_value=D("12000.00"), places=2)
setups = st.builds(TaxSetup, rate_1=rates, rate_2=rates, compound=st.booleans(), prices_include_tax=st.booleans())


def _at_most_two_places(amount: Decimal) -> bool:
    return amount.as_tuple().exponent >= -2


@PROPERTY
@given(
    lines=st.lists(st.builds(Line, amount=amounts, taxed=st.booleans()), min_size=1, max_size=8),
    setup=setups,
    credit=credits,
)
def test_totals_add_up_and_nothing_is_ever_negative(lines, setup, credit):
    totals = compute_totals(lines, setup, places=2, credit=credit)
    if totals.subtotal < 0:
        return  # discounts above the charges: invoice_create refuses it (tested below)
    parts = (totals.subtotal, totals.tax_1, totals.tax_2, totals.credit_applied, totals.total)
    assert totals.total == totals.subtotal + totals.tax_1 + totals.tax_2 - totals.credit_applied
    assert all(part >= 0 for part in parts), parts
    assert all(_at_most_two_places(part) for part in parts), parts
    assert totals.credit_applied == min(credit, totals.before_credit)


@PROPERTY
@given(lines=st.lists(st.builds(Line, amount=amounts, taxed=st.booleans()), min_size=1, max_size=8), setup=setups)
def test_without_taxes_the_total_is_the_sum_of_the_lines(lines, setup):
    untaxed = compute_totals([Line(amount=line.amount, taxed=False) for line in lines], setup, places=2)
    assert untaxed.subtotal == untaxed.total == sum((line.amount for line in lines), D("0"))
    assert untaxed.tax_1 == untaxed.tax_2 == 0


@PROPERTY
@given(
    lines=st.lists(st.builds(Line, amount=non_negative_amounts, taxed=st.booleans()), min_size=1, max_size=8),
    rate=rates,
    level_2=st.booleans(),
)
def test_prices_including_one_tax_are_what_the_client_pays(lines, rate, level_2):
    setup = TaxSetup(rate_1=D("0") if level_2 else rate, rate_2=rate if level_2 else D("0"), prices_include_tax=True)
    totals = compute_totals(lines, setup, places=2)
    assert totals.subtotal + totals.tax_1 + totals.tax_2 == sum((line.amount for line in lines), D("0"))


@PROPERTY
@given(
    lines=st.lists(st.builds(Line, amount=non_negative_amounts, taxed=st.booleans()), min_size=1, max_size=8),
    rate_1=rates,
    rate_2=rates,
    compound=st.booleans(),
)
@example(lines=[Line(amount=D("1.10"), taxed=True)], rate_1=D("30"), rate_2=D("0.1"), compound=False)
def test_prices_including_taxes_are_what_the_client_pays(lines, rate_1, rate_2, compound):
    setup = TaxSetup(rate_1=rate_1, rate_2=rate_2, compound=compound, prices_include_tax=True)
    totals = compute_totals(lines, setup, places=2)
    assert totals.subtotal + totals.tax_1 + totals.tax_2 == sum((line.amount for line in lines), D("0"))
    for line in lines:
        taxes = line_tax(line.amount, setup, 2)
        assert taxes.tax_1 >= 0 and taxes.tax_2 >= 0, (line.amount, taxes)


# --- through invoice_create: the rules, the snapshot and the stored totals -------------------------------------


def _billing(**fields):
    billing = BillingSettings.load()
    for name, value in fields.items():
        setattr(billing, name, value)
    billing.save()
    return billing


def _stored(invoice):
    invoice.refresh_from_db()
    return (invoice.subtotal, invoice.tax_1, invoice.tax_2, invoice.credit_applied, invoice.total)


@pytest.fixture
def rules(db):
    """Level 1 everywhere 5%, in the US 6%, in California 7.25%; level 2 only in California."""
    TaxRule.objects.create(level=1, name="Sales tax", rate=D("5"))
    TaxRule.objects.create(level=1, name="US sales tax", country="US", rate=D("6"))
    TaxRule.objects.create(level=1, name="CA sales tax", country="US", state="CA", rate=D("7.25"))
    TaxRule.objects.create(level=2, name="CA district tax", country="US", state="CA", rate=D("1"))


@pytest.mark.parametrize(
    ("country", "state", "expected"),
    [
        ("US", "CA", ("CA sales tax", D("7.25"), "CA district tax", D("1"))),
        ("US", " ca ", ("CA sales tax", D("7.25"), "CA district tax", D("1"))),  # case and spaces do not matter
        ("US", "NY", ("US sales tax", D("6"), "", D("0"))),
        ("US", "", ("US sales tax", D("6"), "", D("0"))),
        ("FR", "CA", ("Sales tax", D("5"), "", D("0"))),  # a state rule is for its own country only
    ],
)
def test_the_most_specific_rule_of_each_level_wins(rules, usd, country, state, expected):
    client = ClientFactory(currency=usd, country=country, state=state)
    setup = tax_setup_for(client=client, billing=BillingSettings.load())
    assert (setup.name_1, setup.rate_1, setup.name_2, setup.rate_2) == expected


@pytest.mark.django_db
def test_a_state_rule_of_zero_exempts_the_state_from_the_country_rate(usd):
    TaxRule.objects.create(level=1, name="US sales tax", country="US", rate=D("6"))
    TaxRule.objects.create(level=1, name="OR sales tax", country="US", state="OR", rate=D("0"))
    client = ClientFactory(currency=usd, country="US", state="OR")
    assert _stored(InvoiceFactory(client=client, taxed=True)) == _amounts("100.00", "0", "0", "0", "100.00")


@pytest.mark.django_db
def test_without_a_matching_rule_there_is_no_tax(usd):
    TaxRule.objects.create(level=1, name="VAT", country="DE", rate=D("19"))
    client = ClientFactory(currency=usd, country="FR")
    invoice = InvoiceFactory(client=client, taxed=True)
    assert _stored(invoice) == _amounts("100.00", "0", "0", "0", "100.00")
    assert invoice.tax_1_name == ""


@pytest.mark.django_db
def test_an_invoice_stores_its_totals_and_the_taxes_it_was_computed_with(rules, usd):
    _billing(compound_tax=True)
    client = ClientFactory(currency=usd, country="US", state="CA")

    invoice = InvoiceFactory(client=client, amounts=("100.00", "20.00"), taxed=(True, False))

    assert _stored(invoice) == _amounts("120.00", "7.25", "1.07", "0", "128.32")  # 1% of 107.25 = 1.0725
    assert invoice.balance_due == D("128.32")
    assert (invoice.tax_1_name, invoice.tax_1_rate, invoice.tax_2_name, invoice.tax_2_rate) == (
        "CA sales tax",
        D("7.25"),
        "CA district tax",
        D("1"),
    )
    assert (invoice.tax_compound, invoice.prices_include_tax) == (True, False)


@pytest.mark.django_db
def test_inclusive_prices_are_stored_as_what_the_client_pays(usd):
    TaxRule.objects.create(level=1, name="VAT", country="DE", rate=D("19"))
    _billing(prices_include_tax=True)
    client = ClientFactory(currency=usd, country="DE")

    invoice = InvoiceFactory(client=client, amounts=("10.00", "5.00"), taxed=(True, False))

    assert _stored(invoice) == _amounts("13.40", "1.60", "0", "0", "15.00")
    assert invoice.prices_include_tax is True


@pytest.mark.django_db
def test_a_tax_exempt_client_pays_no_tax(rules, usd):
    client = ClientFactory(currency=usd, country="US", state="CA", tax_exempt=True)
    invoice = InvoiceFactory(client=client, taxed=True)
    assert _stored(invoice) == _amounts("100.00", "0", "0", "0", "100.00")
    assert (invoice.tax_1_name, invoice.tax_1_rate, invoice.tax_2_rate) == ("", D("0"), D("0"))


@pytest.mark.django_db
def test_with_taxes_disabled_nobody_pays_tax(rules, usd):
    _billing(taxes_enabled=False)
    client = ClientFactory(currency=usd, country="US", state="CA")
    assert _stored(InvoiceFactory(client=client, taxed=True)) == _amounts("100.00", "0", "0", "0", "100.00")


@pytest.mark.django_db
def test_a_later_rule_change_never_alters_an_issued_invoice(usd):
    rule = TaxRule.objects.create(level=1, name="VAT", country="DE", rate=D("19"))
    client = ClientFactory(currency=usd, country="DE")
    invoice = InvoiceFactory(client=client, taxed=True)
    rule.rate = D("25")
    rule.save()
    credit_add(client_id=client.pk, amount=D("10.00"), reason="Goodwill", actor=None)

    credit_apply(invoice_id=invoice.pk, amount=D("10.00"), actor=None)  # recalculates the totals

    assert _stored(invoice) == _amounts("100.00", "19.00", "0", "10.00", "109.00")


@pytest.mark.django_db
def test_an_invoice_whose_discounts_exceed_its_charges_is_refused_and_nothing_is_written(customer):
    with pytest.raises(ValidationError, match=rf"add up to {MINUS}\$5.00: discounts cannot exceed the charges"):
        InvoiceFactory(client=customer, amounts=("10.00", "-15.00"))
    assert not Invoice.objects.exists()
    assert not InvoiceItem.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("amount", "message"),
    [
        (D("10.005"), "more than 2 decimal places"),
        (D("NaN"), "Line 'Hosting': the amount is not a number"),
        (10.5, "amounts are Decimal, not float"),
        (D("1e1000000"), "Line 'Hosting': the amount is larger than the books can hold"),  # abs() would overflow
        (D("-1e1000000"), "Line 'Hosting': the amount is larger than the books can hold"),
    ],
)
def test_a_line_with_a_bad_amount_is_refused_and_nothing_is_written(customer, amount, message):
    with pytest.raises(ValidationError, match=message):
        invoice_create(
            client=customer,
            lines=[InvoiceLine(kind=InvoiceItem.Kind.MANUAL, description="Hosting", amount=amount)],
            actor=None,
        )
    assert not Invoice.objects.exists()


@pytest.mark.django_db
def test_an_invoice_needs_a_line(customer):
    with pytest.raises(ValidationError, match="at least one line"):
        invoice_create(client=customer, lines=[], actor=None)


@pytest.mark.django_db
@DB_PROPERTY
@given(
    lines=st.lists(st.tuples(amounts, st.booleans()), min_size=1, max_size=5),
    rate_1=rates,
    rate_2=rates,
    compound=st.booleans(),
    inclusive=st.booleans(),
)
def test_stored_totals_are_the_computed_totals(customer, lines, rate_1, rate_2, compound, inclusive):
    billing = _billing(compound_tax=compound, prices_include_tax=inclusive)
    TaxRule.objects.all().delete()
    TaxRule.objects.create(level=1, name="VAT", country=customer.country, rate=rate_1)
    TaxRule.objects.create(level=2, name="Levy", rate=rate_2)
    expected = compute_totals(
        [Line(amount=amount, taxed=taxed) for amount, taxed in lines],
        tax_setup_for(client=customer, billing=billing),
        places=2,
    )
    invoice_lines = [InvoiceLineFactory(amount=D(amount), taxed=taxed) for amount, taxed in lines]
    count_before = Invoice.objects.count()

    if expected.subtotal < 0:
        with pytest.raises(ValidationError, match="discounts cannot exceed the charges"):
            InvoiceFactory(client=customer, lines=invoice_lines)
        assert Invoice.objects.count() == count_before
        return
    invoice = InvoiceFactory(client=customer, lines=invoice_lines)

    assert _stored(invoice) == (expected.subtotal, expected.tax_1, expected.tax_2, D("0"), expected.total)
    assert invoice.balance_due == expected.total
    assert (invoice.tax_1_rate, invoice.tax_2_rate) == (rate_1, rate_2)

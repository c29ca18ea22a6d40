"""Invoice numbers: given when an invoice leaves Draft (or, for proforma invoices, when it is paid), from the
format the admin sets, gapless and unique, from a locked counter row."""

import datetime
import re
import threading
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction

from billing.models import BillingSettings, Client, Invoice, InvoiceNumberCounter
from billing.services import (
    invoice_cancel,
    invoice_issue,
    number_format_validate,
)
from billing.services.numbering import number_format_apply, number_scope
from tests.factories import InvoiceFactory, TransactionFactory

MARCH_2025 = datetime.date(2025, 3, 14)


def _invoice(client, *, on=MARCH_2025, status=Invoice.Status.UNPAID, amount="10.00"):
    """Issued in March 2025 unless told: the numbers below are the ones its dates give."""
    return InvoiceFactory(client=client, amounts=(amount,), issue_date=on, status=status)


def _billing(**fields):
    billing = BillingSettings.load()
    for name, value in fields.items():
        setattr(billing, name, value)
    billing.save()
    return billing


# --- formats ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number_format", "sequence", "on", "expected"),
    [
        ("INV-{YEAR}-{SEQ:06}", 7, MARCH_2025, "INV-2025-000007"),
        ("INV-{YEAR}-{SEQ:6}", 7, MARCH_2025, "INV-2025-000007"),
        ("{SEQ}", 1234, MARCH_2025, "1234"),
        ("{YEAR}/{MONTH}/{SEQ:04}", 12, MARCH_2025, "2025/03/0012"),
        ("INV-{SEQ:03}", 12345, MARCH_2025, "INV-12345"),  # a wider sequence is never cut
    ],
)
def test_a_format_turns_a_sequence_and_a_date_into_a_number(number_format, sequence, on, expected):
    number_format_validate(number_format)
    assert number_format_apply(number_format, sequence=sequence, on=on) == expected


@pytest.mark.parametrize(
    ("number_format", "scope"),
    [("INV-{YEAR}-{SEQ:06}", "2025"), ("{YEAR}{MONTH}-{SEQ}", "2025-03"), ("INV-{SEQ}", "all")],
)
def test_the_sequence_restarts_each_year_with_year_each_month_with_month_and_never_without(number_format, scope):
    assert number_scope(number_format, MARCH_2025) == scope


@pytest.mark.parametrize(
    ("number_format", "message"),
    [
        ("INV-{YEAR}", "needs a {SEQ} placeholder"),
        ("INV-2025", "needs a {SEQ} placeholder"),
        ("INV-{YEAR}-{NUMBER}-{SEQ}", "Unknown placeholder"),
        ("INV-{seq}-{SEQ}", "Unknown placeholder"),
        ("INV-{SEQ:123}-{SEQ}", "Unknown placeholder"),
        ("INV-{YEAR}-{SEQ", "needs a {SEQ} placeholder"),
        ("INV-{YEAR}-{SEQ}}", "Unknown placeholder"),
        ("INV-{MONTH}-{SEQ}", "needs {YEAR} too"),
    ],
)
def test_a_format_that_cannot_give_unique_numbers_is_refused(number_format, message):
    with pytest.raises(ValidationError, match=re.escape(message)):
        number_format_validate(number_format)


def test_a_month_format_whose_text_only_mentions_year_is_refused():
    with pytest.raises(ValidationError, match="needs"):
        number_format_validate("YEARLY-{MONTH}-{SEQ}")


@pytest.mark.django_db
def test_each_format_numbers_invoices_in_order(customer):
    _billing(invoice_number_format="{SEQ}")
    assert [_invoice(customer).number for _ in range(3)] == ["1", "2", "3"]


@pytest.mark.django_db
def test_the_default_format_is_year_and_a_six_digit_sequence(customer):
    assert [_invoice(customer).number for _ in range(2)] == ["INV-2025-000001", "INV-2025-000002"]


@pytest.mark.django_db
def test_a_month_format_restarts_the_sequence_each_month(customer):
    _billing(invoice_number_format="INV-{YEAR}{MONTH}-{SEQ:03}")
    numbers = [_invoice(customer, on=datetime.date(2025, 1, day)).number for day in (30, 31)]
    numbers += [_invoice(customer, on=datetime.date(2025, 2, 1)).number]
    assert numbers == ["INV-202501-001", "INV-202501-002", "INV-202502-001"]


# --- when a number is given ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_draft_has_no_number_and_gets_the_next_one_when_issued(customer):
    draft = _invoice(customer, status=Invoice.Status.DRAFT)
    assert draft.number is None
    _invoice(customer)  # INV-2025-000001, given while the draft waited

    issued = invoice_issue(invoice_id=draft.pk, actor=None, today=MARCH_2025)

    assert issued.status == Invoice.Status.UNPAID
    assert issued.number == "INV-2025-000002"
    assert Invoice.objects.get(pk=draft.pk).number == "INV-2025-000002"


@pytest.mark.django_db
def test_a_draft_is_numbered_in_the_year_it_is_issued(customer):
    draft = _invoice(customer, status=Invoice.Status.DRAFT, on=datetime.date(2024, 12, 30))

    issued = invoice_issue(invoice_id=draft.pk, actor=None, today=datetime.date(2025, 1, 2))

    assert issued.number == "INV-2025-000001"


@pytest.mark.django_db
def test_issuing_an_invoice_twice_is_refused_and_keeps_its_number(customer):
    invoice = _invoice(customer)

    with pytest.raises(ValidationError, match="is Unpaid and cannot be issued"):
        invoice_issue(invoice_id=invoice.pk, actor=None, today=MARCH_2025)

    assert Invoice.objects.get(pk=invoice.pk).number == "INV-2025-000001"
    assert InvoiceNumberCounter.objects.get(scope="2025").last_value == 1


@pytest.mark.django_db
def test_a_proforma_invoice_has_no_number_until_it_is_paid(customer):
    _billing(number_on_payment=True)
    first, second = _invoice(customer), _invoice(customer)
    assert first.number is None and second.number is None

    TransactionFactory(invoice=second, amount=Decimal("4.00"))
    assert Invoice.objects.get(pk=second.pk).number is None  # partly paid is still proforma

    TransactionFactory(
        invoice=second, amount=Decimal("6.00"), paid_at=datetime.datetime(2025, 4, 2, 12, tzinfo=datetime.UTC)
    )
    assert Invoice.objects.get(pk=second.pk).number == "INV-2025-000001"  # numbered in the order they are paid
    TransactionFactory(invoice=first, paid_at=datetime.datetime(2025, 4, 3, 12, tzinfo=datetime.UTC))
    assert Invoice.objects.get(pk=first.pk).number == "INV-2025-000002"


@pytest.mark.django_db
def test_an_issued_proforma_draft_stays_unnumbered(customer):
    _billing(number_on_payment=True)
    draft = _invoice(customer, status=Invoice.Status.DRAFT)

    issued = invoice_issue(invoice_id=draft.pk, actor=None, today=MARCH_2025)

    assert issued.status == Invoice.Status.UNPAID
    assert issued.number is None


@pytest.mark.django_db
def test_a_cancelled_proforma_invoice_is_never_numbered_and_leaves_no_gap(customer):
    _billing(number_on_payment=True)
    cancelled, paid = _invoice(customer), _invoice(customer)

    invoice_cancel(invoice_id=cancelled.pk, actor=None)
    TransactionFactory(invoice=paid, paid_at=datetime.datetime(2025, 4, 2, 12, tzinfo=datetime.UTC))

    assert Invoice.objects.get(pk=cancelled.pk).number is None
    assert Invoice.objects.get(pk=paid.pk).number == "INV-2025-000001"


# --- sequences -------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_new_year_restarts_the_sequence_and_the_old_year_carries_on(customer):
    december = [_invoice(customer, on=datetime.date(2024, 12, 31)).number for _ in range(2)]
    january = _invoice(customer, on=datetime.date(2025, 1, 1)).number
    late_for_2024 = _invoice(customer, on=datetime.date(2024, 12, 31)).number

    assert december == ["INV-2024-000001", "INV-2024-000002"]
    assert january == "INV-2025-000001"
    assert late_for_2024 == "INV-2024-000003"


@pytest.mark.django_db
def test_without_a_year_the_sequence_runs_on_across_years(customer):
    _billing(invoice_number_format="INV-{SEQ:05}")
    numbers = [_invoice(customer, on=on).number for on in (datetime.date(2024, 12, 31), datetime.date(2025, 1, 1))]
    assert numbers == ["INV-00001", "INV-00002"]


@pytest.mark.django_db
def test_a_rolled_back_invoice_gives_its_number_back(customer):
    _invoice(customer)

    with pytest.raises(RuntimeError), transaction.atomic():
        doomed = _invoice(customer)
        assert doomed.number == "INV-2025-000002"
        raise RuntimeError("the caller fails after the invoice was created")

    assert not Invoice.objects.filter(number="INV-2025-000002").exists()
    assert _invoice(customer).number == "INV-2025-000002"


@pytest.mark.django_db
def test_a_refused_invoice_takes_no_number(customer):
    with pytest.raises(ValidationError, match="discounts cannot exceed the charges"):
        _invoice(customer, amount="-5.00")

    assert _invoice(customer).number == "INV-2025-000001"


@pytest.mark.django_db
def test_a_format_change_that_would_repeat_a_taken_number_is_refused(customer):
    _billing(invoice_number_format="INV-{YEAR}-{SEQ}")
    assert _invoice(customer).number == "INV-2025-1"
    _billing(invoice_number_format="INV-2025-{SEQ}")  # no {YEAR}: a new, single sequence starting at 1
    invoices_before = Invoice.objects.count()

    with pytest.raises(ValidationError, match=r"INV-2025-1 is already taken.*Change the format"):
        _invoice(customer)
    draft = _invoice(customer, status=Invoice.Status.DRAFT)
    with pytest.raises(ValidationError, match="already taken"):
        invoice_issue(invoice_id=draft.pk, actor=None, today=MARCH_2025)

    assert Invoice.objects.count() == invoices_before + 1  # only the draft
    assert Invoice.objects.get(pk=draft.pk).status == Invoice.Status.DRAFT
    assert not InvoiceNumberCounter.objects.filter(scope="all").exists()  # the refusal rolled the counter back


# --- concurrency -----------------------------------------------------------------------------------------------


def _run_in_threads(work_per_thread):
    """Run each callable in its own thread (and database connection), starting together; return the errors."""
    barrier = threading.Barrier(len(work_per_thread))
    errors = []

    def run(work):
        try:
            barrier.wait(10)
            work()
        except Exception as error:  # collected and asserted on: a thread's failure must fail the test
            errors.append(repr(error))
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(work,)) for work in work_per_thread]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    return errors


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", ["issue drafts", "create unpaid invoices"])
def test_eight_threads_numbering_200_invoices_give_200_distinct_consecutive_numbers(customer, path):
    _billing(invoice_number_format="INV-{YEAR}-{SEQ:06}")
    threads, per_thread = 8, 25
    drafts = [_invoice(customer, status=Invoice.Status.DRAFT).pk for _ in range(threads * per_thread)]
    if path != "issue drafts":
        drafts = []

    def worker(index):
        def work():
            if path == "issue drafts":
                for invoice_id in drafts[index::threads]:
                    invoice_issue(invoice_id=invoice_id, actor=None, today=MARCH_2025)
            else:
                client = Client.objects.get(pk=customer.pk)
                for _ in range(per_thread):
                    _invoice(client)

        return work

    errors = _run_in_threads([worker(index) for index in range(threads)])

    assert errors == []
    numbers = list(Invoice.objects.exclude(number=None).values_list("number", flat=True))
    assert len(numbers) == len(set(numbers)) == 200
    assert all(number.startswith("INV-2025-") for number in numbers)
    assert sorted(int(number.removeprefix("INV-2025-")) for number in numbers) == list(range(1, 201))
    assert InvoiceNumberCounter.objects.get(scope="2025").last_value == 200

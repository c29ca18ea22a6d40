"""Payment reminders and late fees, steps of the automation run: each reminder level of an unpaid invoice is
handled once (after a missed day only the most advanced one is sent), each late fee is added once (a missed
day catches up), and a paid invoice gets neither."""

import datetime
import threading
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from automation.models import AutomationSettings
from automation.scheduler import automation_run
from billing import automation
from billing.models import Invoice, InvoiceItem, InvoiceReminder, LateFee, TaxRule
from billing.services import (
    credit_add,
    credit_apply,
    invoice_cancel,
    invoice_send_to_collections,
    payment_record,
    refund_record,
)
from billing.taxes import Line, TaxSetup, compute_totals
from notifications.models import ActivityLog, Event, OutboundEmail
from tests.factories import ClientFactory, CurrencyFactory, InvoiceFactory, TransactionFactory

pytestmark = pytest.mark.django_db

D = Decimal
DUE = datetime.date(2026, 12, 10)
DEFAULT_LEVELS = {
    -7: "invoice_reminder_upcoming",
    0: "invoice_reminder_due",
    1: "invoice_overdue_first",
    7: "invoice_overdue_second",
    14: "invoice_overdue_third",
}


def day(offset: int) -> datetime.date:
    """The date `offset` days after the due date."""
    return DUE + datetime.timedelta(days=offset)


def _invoice(client, *lines: tuple[str, bool], due=DUE, status=Invoice.Status.UNPAID):
    """An invoice due on `due` with lines of (amount, taxed); one untaxed 100.00 line unless told."""
    amounts, taxed = zip(*lines or (("100.00", False),), strict=True)
    return InvoiceFactory(
        client=client,
        amounts=amounts,
        taxed=taxed,
        issue_date=due - datetime.timedelta(days=14),
        due_date=due,
        status=status,
    )


def _settings(**changes):
    AutomationSettings.objects.filter(pk=AutomationSettings.load().pk).update(**changes)


def _run(step_name, today):
    step = automation_run(today=today, only=[step_name], trigger="test").steps[0]
    assert step.error_count == 0, step.errors
    return step


def _remind(today):
    return _run("payment_reminders", today)


def _charge(today):
    return _run("late_fees", today)


def _fees_on(**changes):
    settings = {
        "late_fee_enabled": True,
        "late_fee_type": AutomationSettings.LateFeeType.FIXED,
        "late_fee_amount": D("5.00"),
        "late_fee_after_days": 7,
        "late_fee_repeat_days": 0,
        "late_fee_max_count": 1,
    }
    _settings(**(settings | changes))


def _reminder_emails():
    """The reminders queued (the invoices' "created" emails are queued too)."""
    return OutboundEmail.objects.filter(idempotency_key__startswith="reminder:")


def _fresh(invoice):
    return Invoice.objects.get(pk=invoice.pk)


def _fee_lines(invoice):
    return list(
        InvoiceItem.objects.filter(invoice=invoice, kind=InvoiceItem.Kind.LATE_FEE)
        .order_by("id")
        .values_list("description", "amount", "taxed")
    )


def _pay_in_full(invoice):
    TransactionFactory(invoice=invoice)
    return _fresh(invoice)


# --- payment reminders -----------------------------------------------------------------------------------------


def test_each_level_is_sent_on_its_day_and_only_once(customer):
    invoice = _invoice(customer)
    sent_by_day = {}
    for offset in range(-10, 21):
        first, again = _remind(day(offset)), _remind(day(offset))
        assert again.counts == {}, f"a second run on day {offset} did something"
        if first.counts:
            assert first.counts == {"reminders queued": 1}
            sent_by_day[offset] = InvoiceReminder.objects.get(invoice=invoice, sent_on=day(offset)).template

    assert sent_by_day == DEFAULT_LEVELS
    emails = OutboundEmail.objects.filter(idempotency_key__startswith="reminder:").order_by("id")
    assert [(e.template, e.idempotency_key, e.to_address, e.client_id) for e in emails] == [
        (template, f"reminder:{invoice.pk}:{days}", customer.email, customer.pk)
        for days, template in DEFAULT_LEVELS.items()
    ]
    assert emails[0].context["invoice_id"] == invoice.pk and emails[0].context["number"] == invoice.number
    events = Event.objects.filter(name="InvoicePaymentReminder").order_by("id")
    assert [e.payload for e in events] == [
        {"invoice_id": invoice.pk, "client_id": customer.pk, "level_days": days, "template": template}
        for days, template in DEFAULT_LEVELS.items()
    ]
    assert not InvoiceReminder.objects.filter(skipped=True).exists()
    assert ActivityLog.objects.filter(action="invoice_reminder_sent", subject_id=invoice.pk).count() == 5


def test_after_missed_days_only_the_most_advanced_level_is_sent_and_the_others_never(customer):
    invoice = _invoice(customer)

    step = _remind(day(3))  # the runs of day -7, day 0 and day 1 were missed

    assert step.counts == {"reminders queued": 1, "reminders skipped": 2}
    rows = InvoiceReminder.objects.filter(invoice=invoice).order_by("level_days")
    assert [(r.level_days, r.template, r.skipped, r.sent_on) for r in rows] == [
        (-7, "invoice_reminder_upcoming", True, day(3)),
        (0, "invoice_reminder_due", True, day(3)),
        (1, "invoice_overdue_first", False, day(3)),
    ]
    for offset in (3, 4, 5, 6):
        assert _remind(day(offset)).counts == {}
    assert list(_reminder_emails().values_list("template", flat=True)) == ["invoice_overdue_first"]
    assert _remind(day(7)).counts == {"reminders queued": 1}
    assert sorted(_reminder_emails().values_list("template", flat=True)) == [
        "invoice_overdue_first",
        "invoice_overdue_second",
    ]
    assert Event.objects.filter(name="InvoicePaymentReminder").count() == 2


def test_an_invoice_created_long_after_its_due_date_gets_only_the_last_level(customer):
    invoice = _invoice(customer, due=day(-30))  # i.e. 30 days overdue on DUE
    assert _remind(DUE).counts == {"reminders queued": 1, "reminders skipped": 4}
    assert _reminder_emails().get().idempotency_key == f"reminder:{invoice.pk}:14"


def test_only_unpaid_invoices_are_reminded(customer):
    unpaid = _invoice(customer)
    _invoice(customer, status=Invoice.Status.DRAFT)
    _pay_in_full(_invoice(customer))
    invoice_cancel(invoice_id=_invoice(customer).pk, actor=None)
    invoice_send_to_collections(invoice_id=_invoice(customer).pk, actor=None)

    assert _remind(day(1)).counts == {"reminders queued": 1, "reminders skipped": 2}
    assert set(InvoiceReminder.objects.values_list("invoice_id", flat=True)) == {unpaid.pk}

    _pay_in_full(unpaid)
    assert _remind(day(7)).counts == {}  # paid: no second overdue reminder
    assert _reminder_emails().count() == 1


def test_without_levels_nothing_is_sent(customer):
    _invoice(customer)
    _settings(reminder_levels=[])
    assert _remind(day(1)).counts == {}
    assert not _reminder_emails().exists()


def test_the_reminder_plan_names_the_invoice_client_and_level(customer):
    invoice = _invoice(customer)
    plan = _remind(day(1)).plan
    who = f"{invoice.number} (client #{customer.pk})"
    # One line per invoice: the reminder sent, and the earlier levels it stands for.
    assert plan == [f'{who}: reminder "invoice_overdue_first" (1 day overdue); 2 earlier levels skipped']


# --- late fees -------------------------------------------------------------------------------------------------


def test_a_late_fee_is_added_on_its_day_and_not_the_day_before(customer):
    invoice = _invoice(customer)
    _fees_on(late_fee_after_days=7)

    assert _charge(day(6)).counts == {}
    assert _fresh(invoice).total == D("100.00")

    assert _charge(day(7)).counts == {"late fees added": 1}
    assert _fee_lines(invoice) == [("Late fee (1 of 1)", D("5.00"), False)]
    fee = LateFee.objects.get()
    assert (fee.invoice_id, fee.sequence, fee.amount, fee.applied_on) == (invoice.pk, 1, D("5.00"), day(7))
    invoice = _fresh(invoice)
    assert (invoice.total, invoice.balance_due, invoice.status) == (D("105.00"), D("105.00"), Invoice.Status.UNPAID)
    assert Event.objects.get(name="AddInvoiceLateFee").payload == {
        "invoice_id": invoice.pk,
        "client_id": customer.pk,
        "sequence": 1,
        "amount": "5.00",
        "currency": "USD",
    }
    assert ActivityLog.objects.filter(action="invoice_late_fee_added", subject_id=invoice.pk).count() == 1

    # Without repeats the fee is added once, however often and however late the run comes.
    assert _charge(day(7)).counts == {}
    assert _charge(day(60)).counts == {}
    assert _fresh(invoice).total == D("105.00")


def test_late_fees_off_add_nothing(customer):
    invoice = _invoice(customer)
    _fees_on(late_fee_enabled=False)
    assert _charge(day(30)).counts == {}
    assert _fee_lines(invoice) == []


def test_no_fee_on_the_due_date_itself_even_with_zero_days(customer):
    invoice = _invoice(customer)
    _fees_on(late_fee_after_days=0)
    assert _charge(day(0)).counts == {}
    assert _charge(day(1)).counts == {"late fees added": 1}
    assert len(_fee_lines(invoice)) == 1


def test_fees_repeat_every_n_days_up_to_the_most(customer):
    invoice = _invoice(customer)
    _fees_on(late_fee_after_days=7, late_fee_repeat_days=5, late_fee_max_count=3)

    added_on = [offset for offset in range(0, 41) if _charge(day(offset)).counts]

    assert added_on == [7, 12, 17]
    assert _fee_lines(invoice) == [
        ("Late fee (1 of 3)", D("5.00"), False),
        ("Late fee (2 of 3)", D("5.00"), False),
        ("Late fee (3 of 3)", D("5.00"), False),
    ]
    assert list(LateFee.objects.order_by("sequence").values_list("sequence", "applied_on")) == [
        (1, day(7)),
        (2, day(12)),
        (3, day(17)),
    ]
    assert _fresh(invoice).total == D("115.00")


def test_a_missed_day_catches_up_every_fee_that_is_due(customer):
    invoice = _invoice(customer)
    _fees_on(late_fee_after_days=7, late_fee_repeat_days=5, late_fee_max_count=3)

    assert _charge(day(13)).counts == {"late fees added": 2}
    assert list(LateFee.objects.order_by("sequence").values_list("sequence", "applied_on")) == [
        (1, day(13)),
        (2, day(13)),
    ]
    assert _charge(day(16)).counts == {}
    assert _charge(day(17)).counts == {"late fees added": 1}
    assert _fresh(invoice).total == D("115.00")
    assert Event.objects.filter(name="AddInvoiceLateFee").count() == 3


def test_a_percent_fee_is_charged_on_the_total_before_fees_and_at_least_the_minimum(customer, usd):
    TaxRule.objects.create(level=1, name="VAT", country=customer.country, rate=D("19"))
    big = _invoice(customer, ("100.00", True))  # 119.00 with VAT
    small = _invoice(customer, ("20.00", False))
    _fees_on(
        late_fee_type=AutomationSettings.LateFeeType.PERCENT,
        late_fee_amount=D("10"),
        late_fee_minimum=D("3.00"),
        late_fee_repeat_days=1,
        late_fee_max_count=2,
    )

    assert _charge(day(7)).counts == {"late fees added": 2}
    assert _charge(day(8)).counts == {"late fees added": 2}

    # 10% of 119.00, each time: a fee is never charged on an earlier fee.
    assert [amount for _, amount, _ in _fee_lines(big)] == [D("11.90"), D("11.90")]
    # 10% of 20.00 is 2.00, less than the 3.00 minimum.
    assert [amount for _, amount, _ in _fee_lines(small)] == [D("3.00"), D("3.00")]
    assert _fresh(big).total == D("142.80") and _fresh(small).total == D("26.00")


@pytest.mark.parametrize(
    ("code", "places", "rate", "line", "expected"),
    [
        # 5.00 x 0.925 = 4.625: ROUND_HALF_UP gives 4.63 (ROUND_HALF_EVEN would give 4.62).
        ("EUR", 2, "0.925", "100.00", D("4.63")),
        # 5 x 150.1 = 750.5 yen: 751 (not 750).
        ("JPY", 0, "150.1", "10000", D("751")),
    ],
)
def test_a_fixed_fee_is_converted_to_the_invoice_currency(usd, code, places, rate, line, expected):
    currency = CurrencyFactory(code=code, prefix="", suffix=code, decimal_places=places, exchange_rate=D(rate))
    client = ClientFactory(currency=currency)
    invoice = _invoice(client, (line, False))
    _fees_on(late_fee_amount=D("5.00"))

    _charge(day(7))

    assert _fee_lines(invoice) == [("Late fee (1 of 1)", expected, False)]
    assert LateFee.objects.get().amount == expected
    assert _fresh(invoice).total == D(line) + expected
    # The event and the log entry show the fee as the currency does: "751" yen, not "751.00".
    event = Event.objects.get(name="AddInvoiceLateFee")
    assert event.payload["amount"] == str(expected) and event.payload["currency"] == code
    entry = ActivityLog.objects.get(action="invoice_late_fee_added")
    assert entry.message == f"Late fee 1 of 1 added to {_fresh(invoice)}: {currency.format(expected)}"


def test_a_large_fee_is_logged_with_thousands_separators(usd):
    client = ClientFactory(currency=usd)
    invoice = _invoice(client, ("50000.00", False))
    _fees_on(late_fee_type=AutomationSettings.LateFeeType.PERCENT, late_fee_amount=D("5.00"))

    _charge(day(7))

    entry = ActivityLog.objects.get(action="invoice_late_fee_added")
    assert entry.message.endswith(f"added to {_fresh(invoice)}: $2,500.00")
    assert Event.objects.get(name="AddInvoiceLateFee").payload["amount"] == "2500.00"


def test_a_percent_fees_minimum_is_converted_too(usd):
    eur = CurrencyFactory(code="EUR", prefix="€", decimal_places=2, exchange_rate=D("0.925"))
    invoice = _invoice(ClientFactory(currency=eur), ("20.00", False))
    _fees_on(late_fee_type=AutomationSettings.LateFeeType.PERCENT, late_fee_amount=D("10"), late_fee_minimum=D("5"))
    _charge(day(7))
    assert [amount for _, amount, _ in _fee_lines(invoice)] == [D("4.63")]  # not 2.00 (10%), not 5.00 (unconverted)


def test_the_total_and_balance_include_the_fee_and_equal_the_lines_plus_taxes(customer):
    TaxRule.objects.create(level=1, name="VAT", country=customer.country, rate=D("19"))
    invoice = _invoice(customer, ("100.00", True), ("10.00", False))
    credit_add(client_id=customer.pk, amount=D("4.00"), reason="goodwill", actor=None)
    credit_apply(invoice_id=invoice.pk, actor=None)
    payment_record(invoice_id=invoice.pk, amount=D("50.00"), gateway="banktransfer", actor=None)
    _fees_on(late_fee_amount=D("5.00"))

    _charge(day(7))

    invoice = _fresh(invoice)
    items = list(invoice.items.values_list("amount", "taxed"))
    assert sorted(items) == [(D("5.00"), False), (D("10.00"), False), (D("100.00"), True)]
    # The fee is not taxed: 19% of 100.00 only.
    assert (invoice.subtotal, invoice.tax_1, invoice.credit_applied) == (D("115.00"), D("19.00"), D("4.00"))
    assert invoice.total == D("130.00") and invoice.balance_due == D("80.00")
    expected = compute_totals(
        [Line(amount=amount, taxed=taxed) for amount, taxed in items],
        TaxSetup(rate_1=invoice.tax_1_rate, name_1=invoice.tax_1_name),
        places=2,
        credit=invoice.credit_applied,
    )
    assert invoice.total == expected.total == sum(amount for amount, _ in items) + invoice.tax_1 - D("4.00")
    assert invoice.balance_due == invoice.total - invoice.amount_paid


def test_paying_the_invoice_stops_further_fees(customer):
    invoice = _invoice(customer)
    _fees_on(late_fee_after_days=7, late_fee_repeat_days=5, late_fee_max_count=3)
    assert _charge(day(7)).counts == {"late fees added": 1}

    paid = _pay_in_full(invoice)

    assert paid.status == Invoice.Status.PAID and paid.amount_paid == D("105.00")
    assert _charge(day(12)).counts == {}
    assert _charge(day(40)).counts == {}
    assert LateFee.objects.count() == 1 and _fresh(invoice).total == D("105.00")


def test_invoices_that_are_not_unpaid_never_get_fees(customer):
    _invoice(customer, status=Invoice.Status.DRAFT)
    _pay_in_full(_invoice(customer))
    invoice_cancel(invoice_id=_invoice(customer).pk, actor=None)
    invoice_send_to_collections(invoice_id=_invoice(customer).pk, actor=None)
    refunded = _pay_in_full(_invoice(customer))
    refund_record(payment_id=refunded.transactions.get().pk, amount=D("100.00"), actor=None, to_credit=True)
    assert _fresh(refunded).status == Invoice.Status.REFUNDED
    unpaid = _invoice(customer)
    _fees_on()

    assert _charge(day(30)).counts == {"late fees added": 1}
    assert list(LateFee.objects.values_list("invoice_id", flat=True)) == [unpaid.pk]
    assert InvoiceItem.objects.filter(kind=InvoiceItem.Kind.LATE_FEE).count() == 1


def test_the_late_fee_plan_names_the_invoice_fee_and_amount(customer):
    invoice = _invoice(customer)
    _fees_on(late_fee_repeat_days=5, late_fee_max_count=3)
    plan = _charge(day(12)).plan
    who = f"{invoice.number} (client #{customer.pk})"
    assert plan == [
        f"{who}: late fee 1 of 3, $5.00 (12 days overdue)",
        f"{who}: late fee 2 of 3, $5.00 (12 days overdue)",
    ]


# --- both ------------------------------------------------------------------------------------------------------


def test_a_dry_run_lists_the_actions_and_writes_nothing(customer):
    invoice = _invoice(customer)
    _fees_on()
    emails, events, activity = OutboundEmail.objects.count(), Event.objects.count(), ActivityLog.objects.count()

    outcome = automation_run(today=day(7), dry_run=True, only=["payment_reminders", "late_fees"])

    reminders, fees = outcome.steps
    assert reminders.counts == {"reminders queued": 1, "reminders skipped": 3}
    assert fees.counts == {"late fees added": 1}
    assert reminders.plan == [
        f'{invoice.number} (client #{customer.pk}): reminder "invoice_overdue_second" (7 days overdue); '
        "3 earlier levels skipped"
    ]
    assert fees.plan == [f"{invoice.number} (client #{customer.pk}): late fee 1 of 1, $5.00 (7 days overdue)"]
    assert not InvoiceReminder.objects.exists() and not LateFee.objects.exists()
    assert (OutboundEmail.objects.count(), Event.objects.count(), ActivityLog.objects.count()) == (
        emails,
        events,
        activity,
    )
    assert _fee_lines(invoice) == [] and _fresh(invoice).total == D("100.00")
    # The real run then does what the dry run said.
    assert _remind(day(7)).counts == reminders.counts and _charge(day(7)).counts == fees.counts


def _queries_for(step_name, invoices, *, currency):
    """Queries of one run of the step on day 1 over `invoices` fresh invoices, each with something to do."""
    client = ClientFactory(currency=currency)
    created = [_invoice(client, due=day(-(n % 3) * 6)) for n in range(invoices)]  # due on day 0, -6 and -12
    with CaptureQueriesContext(connection) as queries:
        step = _run(step_name, day(1))
    assert step.counts, "the step had nothing to do"
    Invoice.objects.filter(pk__in=[invoice.pk for invoice in created]).delete()
    return len(queries)


@pytest.mark.parametrize("step_name", ["payment_reminders", "late_fees"])
def test_queries_grow_with_batches_not_with_invoices(usd, monkeypatch, step_name):
    _fees_on(late_fee_after_days=1, late_fee_repeat_days=5, late_fee_max_count=3)
    _queries_for(step_name, 1, currency=usd)  # the first run creates the settings row
    assert _queries_for(step_name, 2, currency=usd) == _queries_for(step_name, 12, currency=usd)
    monkeypatch.setattr(automation, "BATCH_SIZE", 3)
    four_batches = _queries_for(step_name, 12, currency=usd)
    monkeypatch.setattr(automation, "BATCH_SIZE", 6)
    two_batches = _queries_for(step_name, 12, currency=usd)
    assert four_batches > two_batches


# --- PostgreSQL: rows another run holds ------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_locked_invoice_is_skipped_and_handled_by_the_next_run(customer):
    held, other = _invoice(customer), _invoice(customer)
    _fees_on()
    locked, release, done = threading.Event(), threading.Event(), threading.Event()

    def hold_the_lock():
        try:
            with transaction.atomic():
                Invoice.objects.select_for_update().get(pk=held.pk)
                locked.set()
                release.wait(30)
        finally:
            connection.close()
            done.set()

    thread = threading.Thread(target=hold_the_lock)
    thread.start()
    try:
        assert locked.wait(10)
        assert _remind(day(7)).counts == {"reminders queued": 1, "reminders skipped": 3}
        assert _charge(day(7)).counts == {"late fees added": 1}
        assert set(InvoiceReminder.objects.values_list("invoice_id", flat=True)) == {other.pk}
        assert list(LateFee.objects.values_list("invoice_id", flat=True)) == [other.pk]
    finally:
        release.set()
        thread.join(30)
    assert done.is_set()
    assert _remind(day(7)).counts == {"reminders queued": 1, "reminders skipped": 3}
    assert _charge(day(7)).counts == {"late fees added": 1}
    assert _reminder_emails().filter(client_id=customer.pk).count() == 2
    assert LateFee.objects.count() == 2


# --- admin -----------------------------------------------------------------------------------------------------


def test_the_invoice_page_shows_its_reminders_and_late_fees_and_their_lists_are_read_only(admin_client, customer):
    invoice = _invoice(customer)
    _fees_on()
    _remind(day(3))
    _charge(day(7))

    page = admin_client.get(reverse("admin:billing_invoice_change", args=[invoice.pk])).content.decode()
    assert "invoice_overdue_first (1 day overdue): email queued on 2026-12-13" in page
    assert "invoice_reminder_upcoming (7 days before due): skipped on 2026-12-13" in page
    assert "1. $5.00 added on 2026-12-17" in page

    for model in ("invoicereminder", "latefee"):
        listing = admin_client.get(reverse(f"admin:billing_{model}_changelist"))
        assert listing.status_code == 200 and invoice.number in listing.content.decode()
        assert admin_client.get(reverse(f"admin:billing_{model}_add")).status_code == 403
    fee = LateFee.objects.get()
    assert admin_client.post(reverse("admin:billing_latefee_change", args=[fee.pk]), {"amount": "0"}).status_code == 403
    assert LateFee.objects.get().amount == D("5.00")

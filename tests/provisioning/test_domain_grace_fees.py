"""Grace and redemption fees: the run adds the TLD's grace fee to the unpaid renewal invoice of a domain that expired
(from the first day after its expiry date to the last day of grace), then its redemption fee (to the last day of
redemption), each once, in the invoice's currency; nothing without a fee, past both windows or on an invoice that
is not Unpaid. A run after a gap adds what is due; a dry run says what it would add; the queries do not grow with
the domains."""

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from automation.scheduler import automation_run
from billing.models import Invoice, InvoiceItem
from billing.services import invoice_cancel, invoice_send_to_collections
from notifications.models import ActivityLog, Event
from provisioning.models import Domain, Tld, TldFees
from tests.concurrency import in_another_thread
from tests.factories import ClientFactory, DomainFactory, InvoiceFactory, TransactionFactory

pytestmark = pytest.mark.django_db

D = Decimal
EXPIRY = datetime.date(2026, 12, 10)
GRACE = InvoiceItem.Kind.DOMAIN_GRACE_FEE
REDEMPTION = InvoiceItem.Kind.DOMAIN_REDEMPTION_FEE
FEES = (GRACE, REDEMPTION)


def _day(n: int) -> datetime.date:
    """The day n days after the expiry date (0: the expiry date itself)."""
    return EXPIRY + datetime.timedelta(days=n)


@pytest.fixture
def tld(usd):
    """.example with the default windows (30 days of grace, then 30 of redemption), its fees in USD."""
    tld = Tld.objects.create(extension="example", registrar="manual")
    TldFees.objects.create(tld=tld, currency=usd, grace_fee=D("5.00"), redemption_fee=D("80.00"))
    return tld


def _late_domain(
    client, name: str = "late.example", *, expiry: datetime.date = EXPIRY, status=Domain.Status.ACTIVE
) -> tuple[Domain, Invoice]:
    """A domain (Active) expiring on `expiry`, its renewal invoiced before (due on the expiry date) and unpaid."""
    domain = DomainFactory(
        client=client,
        name=name,
        registration_date=expiry.replace(year=expiry.year - 1),
        expiry_date=expiry,
        status=status,
    )
    invoice = InvoiceFactory(
        client=client, bills=[domain], issue_date=expiry - datetime.timedelta(days=14), due_date=expiry
    )
    return domain, invoice


def _run(day: datetime.date, *, dry_run: bool = False):
    outcome = automation_run(today=day, only=["domain_expiry", "domain_grace_fees"], dry_run=dry_run, trigger="test")
    assert outcome.ok, [step.errors for step in outcome.steps]
    return outcome.steps[1]


def _fees(invoice: Invoice) -> list[tuple[str, Decimal]]:
    return list(invoice.items.filter(kind__in=FEES).order_by("pk").values_list("kind", "amount"))


def test_a_run_every_day_adds_the_grace_fee_on_the_first_day_then_the_redemption_fee_once_each(customer, tld):
    domain, invoice = _late_domain(customer)
    added_on = {}
    for n in range(0, 63):
        step = _run(_day(n))
        if step.counts:
            added_on[n] = step.counts
    # Day 0 is the expiry date: still the client's. Day 1 the first of grace, 30 its last, 31 the first of
    # redemption, 60 its last: nothing more after.
    assert added_on == {1: {"grace fees added": 1}, 31: {"redemption fees added": 1}}
    assert _fees(invoice) == [(GRACE, D("5.00")), (REDEMPTION, D("80.00"))]
    invoice.refresh_from_db()
    assert (invoice.subtotal, invoice.total, invoice.balance_due) == (D("97.99"), D("97.99"), D("97.99"))
    domain.refresh_from_db()
    assert domain.status == Domain.Status.EXPIRED
    assert Event.objects.filter(name="DomainGraceFeeAdded").count() == 1
    assert Event.objects.filter(name="DomainRedemptionFeeAdded").count() == 1
    assert ActivityLog.objects.filter(action="invoice_domain_fees_added").count() == 2


@pytest.mark.parametrize(
    ("days_after_expiry", "fees"),
    [
        (0, []),  # the day of expiry: the domain is still Active
        (1, [GRACE]),  # the first day of grace
        (30, [GRACE]),  # the last day of grace
        (31, [GRACE, REDEMPTION]),  # the first day of redemption, the grace fee caught up
        (60, [GRACE, REDEMPTION]),  # the last day of redemption
        (61, []),  # past redemption: no fee
    ],
)
def test_the_first_run_after_expiry_adds_every_fee_due_by_its_day(customer, tld, days_after_expiry, fees):
    _domain, invoice = _late_domain(customer)
    _run(_day(days_after_expiry))
    assert [kind for kind, _amount in _fees(invoice)] == fees


def test_a_run_after_a_gap_adds_what_came_due_and_keeps_the_grace_fee_already_there(customer, tld):
    _domain, invoice = _late_domain(customer)
    assert _run(_day(12)).counts == {"grace fees added": 1}  # the first days were missed: added on the 12th
    assert _run(_day(45)).counts == {"redemption fees added": 1}  # 15 days into redemption, the 14 before missed
    assert _fees(invoice) == [(GRACE, D("5.00")), (REDEMPTION, D("80.00"))]


def test_two_runs_of_a_day_and_the_next_days_add_one_fee(customer, tld):
    _domain, invoice = _late_domain(customer)
    first = _run(_day(3))
    again = [_run(_day(3)), _run(_day(4)), _run(_day(30))]
    assert first.counts == {"grace fees added": 1}
    assert [step.counts for step in again] == [{}, {}, {}]
    assert _fees(invoice) == [(GRACE, D("5.00"))]
    invoice.refresh_from_db()
    assert invoice.total == D("17.99")
    assert Event.objects.filter(name="DomainGraceFeeAdded").count() == 1
    assert ActivityLog.objects.filter(action="invoice_domain_fees_added").count() == 1


def test_what_a_fee_line_entry_and_event_say(customer, tld):
    domain, invoice = _late_domain(customer)
    step = _run(_day(2))
    line = invoice.items.get(kind=GRACE)
    renewal = invoice.items.get(kind=InvoiceItem.Kind.DOMAIN)
    assert (line.description, line.related_id, line.amount, line.taxed) == (
        "Grace period fee - late.example",
        domain.pk,
        D("5.00"),
        False,
    )
    assert (
        (line.period_start, line.period_end)
        == (renewal.period_start, renewal.period_end)
        == (
            EXPIRY,
            _day(364),
        )
    )
    number = invoice.number
    assert step.plan == [
        f"{number} (client #{customer.pk}): grace period fee for late.example, $5.00 (2 days after expiry)"
    ]
    entry = ActivityLog.objects.get(action="invoice_domain_fees_added")
    assert (entry.subject_type, entry.subject_id, entry.client_id, entry.actor_label) == (
        "billing.invoice",
        invoice.pk,
        customer.pk,
        "system",
    )
    assert entry.message == f"Added to Invoice {number}: grace period fee for late.example, $5.00 (2 days after expiry)"
    assert Event.objects.get(name="DomainGraceFeeAdded").payload == {
        "domain_id": domain.pk,
        "client_id": customer.pk,
        "invoice_id": invoice.pk,
        "amount": "5.00",
        "currency": "USD",
    }


def test_the_fee_is_in_the_invoices_currency_and_nothing_without_a_row_in_it(usd, eur, tld):
    TldFees.objects.create(tld=tld, currency=eur, grace_fee=D("4.50"), redemption_fee=D("70.00"))
    euro_client = ClientFactory(currency=eur)
    _domain, euro_invoice = _late_domain(euro_client, "euro.example")
    pounds = ClientFactory(currency__code="GBP", currency__prefix="£")
    _other, pound_invoice = _late_domain(pounds, "pound.example")  # .example has no fees in pounds

    step = _run(_day(40))

    assert step.counts == {"grace fees added": 1, "redemption fees added": 1}
    assert _fees(euro_invoice) == [(GRACE, D("4.50")), (REDEMPTION, D("70.00"))]
    assert euro_invoice.currency.code == "EUR"
    assert {event.payload["currency"] for event in Event.objects.filter(name__endswith="FeeAdded")} == {"EUR"}
    assert _fees(pound_invoice) == []


def test_an_empty_or_zero_fee_is_not_charged_and_the_other_one_is(customer, usd, tld):
    TldFees.objects.filter(tld=tld).update(grace_fee=None, redemption_fee=D("80.00"))
    _domain, invoice = _late_domain(customer)
    assert _run(_day(5)).counts == {}
    assert _run(_day(31)).counts == {"redemption fees added": 1}
    assert _fees(invoice) == [(REDEMPTION, D("80.00"))]

    TldFees.objects.filter(tld=tld).update(grace_fee=D("0"), redemption_fee=None)
    _later, second = _late_domain(customer, "second.example", expiry=_day(100))
    assert [_run(_day(100 + n)).counts for n in (1, 31)] == [{}, {}]
    assert _fees(second) == []


def test_no_fees_row_no_tld_or_no_windows_add_nothing(customer, usd, tld):
    bare = Tld.objects.create(extension="test", registrar="manual")  # no fees at all
    closed = Tld.objects.create(extension="org", registrar="manual", grace_period_days=0, redemption_period_days=0)
    TldFees.objects.create(tld=closed, currency=usd, grace_fee=D("5.00"), redemption_fee=D("80.00"))
    invoices = [_late_domain(customer, name)[1] for name in ("bare.test", "closed.org", "nowhere.invalid")]
    assert not bare.fees.exists()
    assert [_run(_day(n)).counts for n in (1, 31)] == [{}, {}]
    assert [_fees(invoice) for invoice in invoices] == [[], [], []]


def test_without_a_grace_period_the_redemption_fee_is_due_the_day_after_expiry(customer, usd):
    tld = Tld.objects.create(extension="example", registrar="manual", grace_period_days=0, redemption_period_days=5)
    TldFees.objects.create(tld=tld, currency=usd, grace_fee=D("5.00"), redemption_fee=D("80.00"))
    _domain, invoice = _late_domain(customer)
    assert _run(_day(1)).counts == {"redemption fees added": 1}
    assert _fees(invoice) == [(REDEMPTION, D("80.00"))]  # no grace period: no grace fee


def test_only_an_unpaid_invoice_billing_the_current_period_gets_a_fee(customer, tld):
    invoices = {}
    for name in ("unpaid", "paid", "cancelled", "collections", "draft", "older-period"):
        invoices[name] = _late_domain(customer, f"{name}.example")[1]
    TransactionFactory(invoice=invoices["paid"])  # paid before it expired (its handler is not run here)
    invoice_cancel(invoice_id=invoices["cancelled"].pk, actor=None)
    invoice_send_to_collections(invoice_id=invoices["collections"].pk, actor=None)
    Invoice.objects.filter(pk=invoices["draft"].pk).update(status=Invoice.Status.DRAFT)
    # The invoice bills a period that is not the domain's next one (an admin moved its due date since).
    Domain.objects.filter(name="older-period.example").update(next_due_date=_day(30))

    assert _run(_day(5)).counts == {"grace fees added": 1}
    assert {name: len(_fees(invoice)) for name, invoice in invoices.items()} == {
        "unpaid": 1,
        "paid": 0,
        "cancelled": 0,
        "collections": 0,
        "draft": 0,
        "older-period": 0,
    }


def test_a_domain_that_is_not_expired_gets_no_fee(customer, tld):
    domain, invoice = _late_domain(customer)
    for status in (Domain.Status.ACTIVE, Domain.Status.CANCELLED, Domain.Status.TRANSFERRED_AWAY):
        Domain.objects.filter(pk=domain.pk).update(status=status)
        assert automation_run(today=_day(5), only=["domain_grace_fees"], trigger="test").steps[0].counts == {}
    assert _fees(invoice) == []


def test_a_dry_run_says_what_it_would_add_and_adds_nothing(customer, tld):
    _domain, invoice = _late_domain(customer)
    step = _run(_day(33), dry_run=True)
    assert step.counts == {"grace fees added": 1, "redemption fees added": 1}
    assert step.plan == [
        f"{invoice.number} (client #{customer.pk}): grace period fee for late.example, $5.00 (33 days after expiry)",
        f"{invoice.number} (client #{customer.pk}): redemption fee for late.example, $80.00 (33 days after expiry)",
    ]
    assert _fees(invoice) == []
    assert not Event.objects.filter(name__endswith="FeeAdded").exists()
    assert Domain.objects.get().status == Domain.Status.ACTIVE  # the expiry step was rolled back too


def test_two_domains_on_one_invoice_get_their_fees_and_one_activity_entry(customer, tld):
    first = DomainFactory(client=customer, name="one.example", registration_date=_day(-365), expiry_date=EXPIRY)
    second = DomainFactory(client=customer, name="two.example", registration_date=_day(-365), expiry_date=EXPIRY)
    invoice = InvoiceFactory(client=customer, bills=[first, second], due_date=EXPIRY)
    assert _run(_day(35)).counts == {"grace fees added": 2, "redemption fees added": 2}
    assert sorted(invoice.items.filter(kind__in=FEES).values_list("description", flat=True)) == [
        "Grace period fee - one.example",
        "Grace period fee - two.example",
        "Redemption fee - one.example",
        "Redemption fee - two.example",
    ]
    invoice.refresh_from_db()
    assert invoice.total == 2 * (D("12.99") + D("5.00") + D("80.00"))
    assert ActivityLog.objects.filter(action="invoice_domain_fees_added", subject_id=invoice.pk).count() == 1


def test_the_queries_do_not_grow_with_the_domains(usd, tld):
    net = Tld.objects.create(extension="net", registrar="manual")
    TldFees.objects.create(tld=net, currency=usd, grace_fee=D("3.00"), redemption_fee=D("60.00"))

    def queries_for(count: int, day: int) -> int:
        expiry = _day(-day)
        for n in range(count):
            client = ClientFactory(currency=usd)
            for name in (f"d{day}-{n}.example", f"d{day}-{n}.net"):
                _late_domain(client, name, expiry=expiry, status=Domain.Status.EXPIRED)
        with CaptureQueriesContext(connection) as queries:
            step = automation_run(today=EXPIRY, only=["domain_grace_fees"], trigger="test").steps[0]
        assert step.counts == {"grace fees added": 2 * count, "redemption fees added": 2 * count}
        return len(queries)

    # Domains of two TLDs expired 40 days ago (both fees each), then ten times as many: the same statements.
    few, many = queries_for(2, 40), queries_for(20, 41)
    assert few == many, (few, many)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_invoice_cancelled_between_selection_and_lock_gets_no_fee(customer, tld, monkeypatch):
    """The batch checks the invoice's status again under its lock: an admin cancelling the invoice after the step
    chose it, before it locked it, leaves it without a fee (the domain is still Expired and still billed by it)."""
    from provisioning import automation_domain_fees

    _domain, invoice = _late_domain(customer, status=Domain.Status.EXPIRED)
    select = automation_domain_fees.invoices_due_a_domain_fee
    selected = []

    def select_then_an_admin_cancels(*, today):
        ids = select(today=today)
        selected.extend(ids)
        # Committed before the step locks its batch.
        in_another_thread(lambda: invoice_cancel(invoice_id=invoice.pk, actor=None))
        return ids

    monkeypatch.setattr(automation_domain_fees, "invoices_due_a_domain_fee", select_then_an_admin_cancels)

    step = automation_run(today=_day(3), only=["domain_grace_fees"], trigger="test").steps[0]

    assert selected == [invoice.pk]  # the race happened: chosen while Unpaid
    assert (step.error_count, step.counts) == (0, {})
    invoice.refresh_from_db()
    assert (invoice.status, invoice.total) == (Invoice.Status.CANCELLED, D("12.99"))
    assert _fees(invoice) == []

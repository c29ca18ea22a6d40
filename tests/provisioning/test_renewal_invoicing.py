"""Renewal invoicing, the first step of the automation run: each service and domain period is invoiced once,
within its lead days, grouped per client and due date, and nothing moves until it is paid."""

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from automation.models import AutomationSettings
from automation.scheduler import automation_run
from billing.cycles import BillingCycle
from billing.models import Invoice, InvoiceItem, TaxRule
from billing.services import payment_record
from notifications.models import Event
from provisioning import automation
from provisioning.models import Service
from tests.factories import ClientFactory, CurrencyFactory, DomainFactory, ServiceFactory

pytestmark = pytest.mark.django_db

TODAY = datetime.date(2026, 12, 1)
D = Decimal


def _renew(today=TODAY, **changes):
    if changes:
        AutomationSettings.objects.filter(pk=AutomationSettings.load().pk).update(**changes)
    outcome = automation_run(today=today, only=["renewal_invoicing"], trigger="test")
    step = outcome.steps[0]
    assert step.error_count == 0, step.errors
    return step


def _lines(service):
    return list(
        InvoiceItem.objects.filter(kind="service", related_id=service.pk)
        .order_by("period_start")
        .values_list("period_start", "period_end", "amount", "invoice__due_date", "invoice__date")
    )


def test_a_service_due_within_the_lead_days_is_invoiced_once(customer, hosting):
    due_soon = ServiceFactory(client=customer, product=hosting, next_due_date=TODAY + datetime.timedelta(days=14))
    later = ServiceFactory(client=customer, product=hosting, next_due_date=TODAY + datetime.timedelta(days=15))

    step = _renew()

    assert step.counts == {"invoices created": 1, "lines": 1}
    period_end = datetime.date(2027, 1, 14)
    assert _lines(due_soon) == [(due_soon.next_due_date, period_end, D("4.99"), due_soon.next_due_date, TODAY)]
    assert _lines(later) == []
    invoice = Invoice.objects.get()
    assert invoice.status == Invoice.Status.UNPAID and invoice.number and invoice.total == D("4.99")
    item = invoice.items.get()
    assert item.description.endswith("(2026-12-15 - 2027-01-14)") and hosting.name in item.description
    assert Event.objects.filter(name="InvoiceCreated", payload__invoice_id=invoice.pk).count() == 1
    # Nothing moves until it is paid, and the next run bills nothing twice.
    assert Service.objects.get(pk=due_soon.pk).next_due_date == due_soon.next_due_date
    assert _renew().counts == {}
    assert _renew(TODAY + datetime.timedelta(days=1)).counts == {"invoices created": 1, "lines": 1}  # `later`


def test_lead_days_per_billing_cycle(customer, hosting):
    yearly = ServiceFactory(
        client=customer,
        product=hosting,
        next_due_date=TODAY + datetime.timedelta(days=30),
        billing_cycle=BillingCycle.ANNUALLY,
    )
    assert _renew().counts == {}
    assert _renew(lead_days_by_cycle={"annually": 30}).counts == {"invoices created": 1, "lines": 1}
    assert _lines(yearly)[0][:2] == (datetime.date(2026, 12, 31), datetime.date(2027, 12, 30))


def test_combined_invoicing_gives_one_invoice_per_client_and_due_date(customer, hosting):
    due = TODAY + datetime.timedelta(days=5)
    ServiceFactory(client=customer, product=hosting, next_due_date=due)
    ServiceFactory(client=customer, product=hosting, next_due_date=due, recurring_amount=D("10.00"))
    ServiceFactory(client=customer, product=hosting, next_due_date=due + datetime.timedelta(days=1))
    other = ClientFactory(currency=customer.currency)
    ServiceFactory(client=other, product=hosting, next_due_date=due)

    assert _renew().counts == {"invoices created": 3, "lines": 4}
    mine = Invoice.objects.filter(client=customer).order_by("due_date")
    assert [(i.due_date, i.items.count(), i.total) for i in mine] == [
        (due, 2, D("14.99")),
        (due + datetime.timedelta(days=1), 1, D("4.99")),
    ]


def test_without_combined_invoicing_each_line_is_its_own_invoice(customer, hosting):
    due = TODAY + datetime.timedelta(days=5)
    ServiceFactory(client=customer, product=hosting, next_due_date=due)
    ServiceFactory(client=customer, product=hosting, next_due_date=due)
    assert _renew(combined_invoicing=False).counts == {"invoices created": 2, "lines": 2}


def test_an_unpaid_period_holds_back_the_next_unless_invoicing_is_continuous(customer, hosting):
    service = ServiceFactory(client=customer, product=hosting, next_due_date=TODAY)
    _renew()
    three_months_on = TODAY + datetime.timedelta(days=90)
    assert _renew(three_months_on).counts == {}  # the December period is still unpaid
    step = _renew(three_months_on, continuous_invoicing=True)
    # Caught up: January, February and March (March 1 is within 14 days of the run on March 1).
    assert step.counts == {"invoices created": 3, "lines": 3}
    assert [line[0] for line in _lines(service)] == [
        datetime.date(2026, 12, 1),
        datetime.date(2027, 1, 1),
        datetime.date(2027, 2, 1),
        datetime.date(2027, 3, 1),
    ]
    assert _renew(three_months_on, continuous_invoicing=True).counts == {}


def test_paying_moves_the_due_date_and_the_next_period_is_invoiced(
    customer, hosting, django_capture_on_commit_callbacks
):
    service = ServiceFactory(client=customer, product=hosting, next_due_date=TODAY)
    with django_capture_on_commit_callbacks(execute=True):
        _renew()
    invoice = Invoice.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        payment_record(invoice_id=invoice.pk, amount=invoice.balance_due, gateway="banktransfer", actor=None)
    service.refresh_from_db()
    assert service.next_due_date == datetime.date(2027, 1, 1)
    assert _renew(datetime.date(2026, 12, 18)).counts == {"invoices created": 1, "lines": 1}
    assert _lines(service)[-1][:2] == (datetime.date(2027, 1, 1), datetime.date(2027, 1, 31))


def test_only_live_renewing_services_are_invoiced(customer, hosting):
    due = TODAY + datetime.timedelta(days=3)
    suspended = ServiceFactory(client=customer, product=hosting, next_due_date=due, status=Service.Status.SUSPENDED)
    for status in (Service.Status.PENDING, Service.Status.TERMINATED, Service.Status.CANCELLED):
        ServiceFactory(client=customer, product=hosting, next_due_date=due, status=status)
    ServiceFactory(client=customer, product=hosting, next_due_date=due, billing_cycle=BillingCycle.ONE_TIME)
    ServiceFactory(client=customer, product=hosting, next_due_date=due, recurring_amount=D("0.00"))
    assert _renew().counts == {"invoices created": 1, "lines": 1}
    assert len(_lines(suspended)) == 1


def test_domains_renew_for_their_registration_period(customer, domain_product):
    domain = DomainFactory(
        client=customer,
        product=domain_product,
        name="renew-me.example",
        registration_period=2,
        recurring_amount=D("25.98"),
        expiry_date=datetime.date(2026, 12, 20),
    )
    assert _renew(lead_days_by_cycle={"biennially": 30}).counts == {"invoices created": 1, "lines": 1}
    item = InvoiceItem.objects.get(kind="domain", related_id=domain.pk)
    assert (item.period_start, item.period_end, item.amount) == (
        datetime.date(2026, 12, 20),
        datetime.date(2028, 12, 19),
        D("25.98"),
    )
    assert item.description.startswith("Domain renewal - renew-me.example - 2 years")


def test_renewal_invoices_are_taxed_by_the_clients_country(hosting, usd):
    TaxRule.objects.create(level=1, name="VAT", country="DE", rate=D("19"))
    german = ClientFactory(currency=usd, country="DE")
    hosting.taxable = True
    hosting.save()
    ServiceFactory(client=german, product=hosting, next_due_date=TODAY, recurring_amount=D("10.00"))
    _renew()
    invoice = Invoice.objects.get(client=german)
    assert (invoice.subtotal, invoice.tax_1, invoice.total, invoice.tax_1_name) == (
        D("10.00"),
        D("1.90"),
        D("11.90"),
        "VAT",
    )


def test_the_numbers_of_a_batch_are_consecutive_and_follow_earlier_invoices(customer, hosting):
    for day in range(5):
        ServiceFactory(client=customer, product=hosting, next_due_date=TODAY + datetime.timedelta(days=day))
    _renew()
    numbers = sorted(Invoice.objects.values_list("number", flat=True))
    assert numbers == [f"INV-2026-{n:06d}" for n in range(1, 6)]


def test_queries_grow_with_batches_not_with_services(customer, hosting, monkeypatch):
    def queries_for(clients, services_each):
        for _ in range(clients):
            client = ClientFactory(currency=customer.currency)
            for n in range(services_each):
                ServiceFactory(client=client, product=hosting, next_due_date=TODAY + datetime.timedelta(days=n % 3))
        with CaptureQueriesContext(connection) as queries:
            step = _renew()
        assert step.counts["lines"] == clients * services_each
        Invoice.objects.all().delete()
        Service.objects.all().delete()
        return len(queries)

    queries_for(1, 1)  # the first run creates the settings rows and this year's number counter
    # 4 lines or 24: the same queries. (Not many more rows: SQLite splits an INSERT of over 999 values.)
    assert queries_for(2, 2) == queries_for(8, 3)
    monkeypatch.setattr(automation, "CLIENT_BATCH_SIZE", 5)
    four_batches = queries_for(20, 1)
    monkeypatch.setattr(automation, "CLIENT_BATCH_SIZE", 10)
    two_batches = queries_for(20, 1)
    assert four_batches > two_batches


def test_a_dry_run_prints_the_invoices_and_writes_nothing(customer, hosting):
    ServiceFactory(
        client=customer, product=hosting, next_due_date=TODAY + datetime.timedelta(days=2), recurring_amount=D("7.50")
    )
    outcome = automation_run(today=TODAY, dry_run=True, only=["renewal_invoicing"])
    assert outcome.steps[0].counts == {"invoices created": 1, "lines": 1}
    plan = "\n".join(outcome.steps[0].plan)
    assert "due 2026-12-03: $7.50" in plan and "(2026-12-03 - 2027-01-02): $7.50" in plan
    assert not Invoice.objects.exists() and not InvoiceItem.objects.exists()


def test_proforma_renewal_invoices_have_no_number_until_paid(customer, hosting):
    from billing.models import BillingSettings

    BillingSettings.objects.filter(pk=BillingSettings.load().pk).update(number_on_payment=True)
    for day in range(3):
        ServiceFactory(client=customer, product=hosting, next_due_date=TODAY + datetime.timedelta(days=day))
    assert _renew().counts == {"invoices created": 3, "lines": 3}
    assert list(Invoice.objects.values_list("number", flat=True)) == [None, None, None]


def test_a_refused_batch_is_reported_and_the_other_clients_are_still_invoiced(customer, hosting, monkeypatch):
    yen = CurrencyFactory(code="JPY", prefix="¥", decimal_places=0)
    refused = ClientFactory(currency=yen)
    # A price in cents for a currency without them: its invoice line is refused.
    ServiceFactory(client=refused, product=hosting, recurring_amount=D("4.99"), next_due_date=TODAY)
    ServiceFactory(client=customer, product=hosting, next_due_date=TODAY)
    monkeypatch.setattr(automation, "CLIENT_BATCH_SIZE", 1)
    outcome = automation_run(today=TODAY, only=["renewal_invoicing"], trigger="test")
    step = outcome.steps[0]
    assert step.error_count == 1 and "not invoiced" in step.errors[0] and "decimal places" in step.errors[0]
    assert step.counts == {"invoices created": 1, "lines": 1}
    assert Invoice.objects.get().client_id == customer.pk


def test_a_service_bought_on_the_31st_is_billed_from_each_months_last_day_as_it_is_paid(
    customer, hosting, django_capture_on_commit_callbacks
):
    service = ServiceFactory(client=customer, product=hosting, next_due_date=datetime.date(2027, 1, 31))
    Service.objects.filter(pk=service.pk).update(registration_date=datetime.date(2026, 12, 31))
    for _ in range(4):
        service.refresh_from_db()
        with django_capture_on_commit_callbacks(execute=True):
            _renew(service.next_due_date)
        invoice = Invoice.objects.get(status=Invoice.Status.UNPAID)
        with django_capture_on_commit_callbacks(execute=True):
            payment_record(invoice_id=invoice.pk, amount=invoice.balance_due, gateway="banktransfer", actor=None)
    assert [line[:2] for line in _lines(service)] == [
        (datetime.date(2027, 1, 31), datetime.date(2027, 2, 27)),
        (datetime.date(2027, 2, 28), datetime.date(2027, 3, 30)),
        (datetime.date(2027, 3, 31), datetime.date(2027, 4, 29)),
        (datetime.date(2027, 4, 30), datetime.date(2027, 5, 30)),
    ]
    service.refresh_from_db()
    assert service.next_due_date == datetime.date(2027, 5, 31)
    assert InvoiceItem.objects.get(period_start=datetime.date(2027, 2, 28)).description.endswith(
        "(2027-02-28 - 2027-03-30)"
    )

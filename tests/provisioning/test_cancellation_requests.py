"""Cancellation requests: immediate ones are carried out by the next run, end-of-period ones on the service's
due date, and a service being cancelled is not invoiced again."""

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.urls import reverse

from automation.models import AutomationSettings
from automation.scheduler import automation_run
from billing.models import Invoice, InvoiceItem
from billing.services import payment_record
from notifications.models import ActivityLog, Event, OutboundEmail
from provisioning.models import CancellationRequest
from provisioning.selectors import invoices_awaiting_withdrawal
from provisioning.services import cancellation_request
from tests.factories import ClientFactory, ServiceFactory

pytestmark = pytest.mark.django_db

TODAY = datetime.date(2026, 12, 1)
DUE = TODAY + datetime.timedelta(days=10)


@pytest.fixture
def service(customer, hosting):
    return ServiceFactory(client=customer, product=hosting, next_due_date=DUE)


def _run(day, *steps):
    outcome = automation_run(today=day, only=list(steps), trigger="test")
    assert outcome.ok
    return {step.name: step.counts for step in outcome.steps}


def _state(service):
    service.refresh_from_db()
    return service.status, service.termination_date


def test_an_immediate_request_is_carried_out_by_the_next_run(service):
    request = cancellation_request(service_id=service.pk, when="immediate", reason="Moving away", actor=None)
    assert Event.objects.filter(name="CancellationRequest", payload__request_id=request.pk).exists()
    assert _run(TODAY, "cancellation_requests") == {"cancellation_requests": {"services cancelled": 1}}
    assert _state(service) == ("terminated", TODAY)
    request.refresh_from_db()
    assert (request.status, request.done_on) == ("done", TODAY)
    assert _run(TODAY, "cancellation_requests") == {"cancellation_requests": {}}
    assert Event.objects.filter(name="ServiceTerminated", payload__service_id=service.pk).count() == 1


def test_an_end_of_period_request_waits_for_the_due_date_and_blocks_the_renewal_invoice(service):
    cancellation_request(service_id=service.pk, when="end_of_period", reason="", actor=None)
    day_before = DUE - datetime.timedelta(days=1)
    counts = _run(day_before, "cancellation_requests", "renewal_invoicing")
    assert counts == {"cancellation_requests": {}, "renewal_invoicing": {}}  # within the lead days, not invoiced
    assert _state(service) == ("active", None)
    assert not InvoiceItem.objects.filter(kind="service", related_id=service.pk).exists()
    assert _run(DUE, "cancellation_requests") == {"cancellation_requests": {"services cancelled": 1}}
    assert _state(service) == ("terminated", DUE)


def test_bad_requests_are_refused_with_a_reason_and_change_nothing(service):
    with pytest.raises(ValidationError, match="must be one of"):
        cancellation_request(service_id=service.pk, when="tomorrow", reason="", actor=None)
    with pytest.raises(ValidationError, match=r"The reason holds control characters \(U\+0000\)"):
        cancellation_request(service_id=service.pk, when="immediate", reason="NUL\x00", actor=None)
    cancellation_request(service_id=service.pk, when="end_of_period", reason="", actor=None)
    with pytest.raises(ValidationError, match="already has an open cancellation request"):
        cancellation_request(service_id=service.pk, when="immediate", reason="", actor=None)
    _run(DUE, "cancellation_requests")
    with pytest.raises(ValidationError, match="only a live service"):
        cancellation_request(service_id=service.pk, when="immediate", reason="", actor=None)
    assert CancellationRequest.objects.count() == 1


def test_a_request_for_a_service_that_ended_meanwhile_is_closed(service):
    request = cancellation_request(service_id=service.pk, when="immediate", reason="", actor=None)
    service.terminate(on=TODAY)
    service.save()
    assert _run(TODAY, "cancellation_requests") == {"cancellation_requests": {"requests closed": 1}}
    request.refresh_from_db()
    assert request.status == "done"


def test_the_admin_adds_a_request_through_the_service_and_sees_refusals(admin_client, admin_user, service):
    url = reverse("admin:provisioning_cancellationrequest_add")
    response = admin_client.post(url, {"service": service.pk, "when": "immediate", "reason": "Asked by phone"})
    assert response.status_code == 302
    request = CancellationRequest.objects.get()
    assert (request.requested_by, request.reason) == (admin_user.get_username(), "Asked by phone")
    again = admin_client.post(url, {"service": service.pk, "when": "immediate", "reason": ""})
    assert again.status_code == 200 and "already has an open cancellation request" in again.content.decode()
    assert CancellationRequest.objects.count() == 1


# --- the renewal invoice made before an end-of-period request ------------------------------------------------------


def _renewal_invoice(*services):
    """The renewal invoice of these services' next period, made TODAY (within the lead days of DUE)."""
    _run(TODAY, "renewal_invoicing")
    invoices = {
        line.invoice for line in InvoiceItem.objects.filter(kind="service", related_id__in=[s.pk for s in services])
    }
    assert len(invoices) == 1
    return invoices.pop()


def test_an_invoice_billing_only_the_cancelled_period_is_cancelled_and_no_longer_chased(service):
    invoice = _renewal_invoice(service)
    cancellation_request(service_id=service.pk, when="end_of_period", reason="", actor=None)
    counts = _run(DUE, "cancellation_requests")
    assert counts == {"cancellation_requests": {"services cancelled": 1, "invoices cancelled": 1}}
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.CANCELLED
    assert Event.objects.filter(name="InvoiceCancelled", payload__invoice_id=invoice.pk).count() == 1
    # Cancelled, it gets no reminder and no late fee, however late the run.
    AutomationSettings.objects.filter(pk=AutomationSettings.load().pk).update(
        late_fee_enabled=True, late_fee_amount=Decimal("5.00"), late_fee_after_days=7
    )
    late = _run(DUE + datetime.timedelta(days=30), "payment_reminders", "late_fees")
    assert late == {"payment_reminders": {}, "late_fees": {}}


def test_a_combined_invoice_loses_only_the_cancelled_line_and_its_totals_follow(customer, hosting, service):
    other = ServiceFactory(client=customer, product=hosting, next_due_date=DUE, recurring_amount=Decimal("9.99"))
    invoice = _renewal_invoice(service, other)
    assert invoice.total == Decimal("14.98")
    cancellation_request(service_id=service.pk, when="end_of_period", reason="", actor=None)
    counts = _run(DUE, "cancellation_requests")
    assert counts == {"cancellation_requests": {"services cancelled": 1, "invoices with lines removed": 1}}
    invoice.refresh_from_db()
    assert (invoice.status, invoice.subtotal, invoice.total, invoice.balance_due) == (
        Invoice.Status.UNPAID,
        Decimal("9.99"),
        Decimal("9.99"),
        Decimal("9.99"),
    )
    assert list(invoice.items.values_list("related_id", flat=True)) == [other.pk]
    assert Event.objects.filter(name="InvoiceLinesRemoved", payload__invoice_id=invoice.pk).count() == 1
    assert ActivityLog.objects.get(action="invoice_lines_removed").message == (
        f"{invoice}: removed Hosting - Starter (2026-12-11 - 2027-01-10), as the service was cancelled before the "
        "period; now $9.99"
    )


def test_an_invoice_with_money_on_it_is_left_for_an_admin_and_the_log_says_why(customer, hosting, service):
    other = ServiceFactory(client=customer, product=hosting, next_due_date=DUE)
    invoice = _renewal_invoice(service, other)
    payment_record(invoice_id=invoice.pk, amount=Decimal("1.00"), gateway="bank", actor=None)
    cancellation_request(service_id=service.pk, when="end_of_period", reason="", actor=None)
    counts = _run(DUE, "cancellation_requests")
    assert counts == {"cancellation_requests": {"services cancelled": 1, "invoices left for an admin": 1}}
    invoice.refresh_from_db()
    assert (invoice.status, invoice.total, invoice.items.count()) == (Invoice.Status.UNPAID, Decimal("9.98"), 2)
    assert "it has money on it; an admin decides" in ActivityLog.objects.get(action="invoice_lines_kept").message


def _asked(service, when, on):
    """A request made on the given day (requests are stamped with the wall clock; the runs here use --date)."""
    request = cancellation_request(service_id=service.pk, when=when, reason="", actor=None)
    CancellationRequest.objects.filter(pk=request.pk).update(
        requested_at=datetime.datetime.combine(on, datetime.time(12), tzinfo=datetime.UTC)
    )


@pytest.mark.parametrize("when", ["immediate", "end_of_period"])
def test_a_period_that_had_started_when_the_client_asked_stays_billed(customer, hosting, when):
    # Overdue: the period from TODAY - 5 is unpaid and in use when the client asks.
    started = ServiceFactory(client=customer, product=hosting, next_due_date=TODAY - datetime.timedelta(days=5))
    _run(TODAY - datetime.timedelta(days=15), "renewal_invoicing")
    owed = InvoiceItem.objects.get(kind="service", related_id=started.pk).invoice
    _asked(started, when, TODAY)
    assert _run(TODAY, "cancellation_requests") == {"cancellation_requests": {"services cancelled": 1}}
    owed.refresh_from_db()
    assert (owed.status, owed.total) == (Invoice.Status.UNPAID, Decimal("4.99"))
    assert _state(started) == ("terminated", TODAY)


def test_a_period_that_started_after_an_immediate_request_is_not_billed_though_the_run_came_late(customer, hosting):
    service = ServiceFactory(client=customer, product=hosting, next_due_date=TODAY + datetime.timedelta(days=3))
    _run(TODAY, "renewal_invoicing")  # the period from TODAY + 3
    invoice = InvoiceItem.objects.get(kind="service", related_id=service.pk).invoice
    _asked(service, "immediate", TODAY)
    # The run of the day the client asked did not happen; the next one is after the period began.
    late = TODAY + datetime.timedelta(days=5)
    counts = _run(late, "cancellation_requests")
    assert counts == {"cancellation_requests": {"services cancelled": 1, "invoices cancelled": 1}}
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.CANCELLED
    assert _state(service) == ("terminated", late)


def test_a_dry_run_names_the_invoice_and_changes_nothing(service):
    invoice = _renewal_invoice(service)
    cancellation_request(service_id=service.pk, when="end_of_period", reason="", actor=None)
    outcome = automation_run(today=DUE, only=["cancellation_requests"], trigger="test", dry_run=True)
    assert outcome.steps[0].counts == {"services cancelled": 1, "invoices cancelled": 1}
    assert f"{invoice} (client #{invoice.client_id}): cancelled, it billed only the cancelled period" in (
        outcome.steps[0].plan
    )
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.UNPAID
    assert _state(service) == ("active", None)


def test_two_cancelled_services_on_one_invoice_cancel_it_once(customer, hosting, service):
    other = ServiceFactory(client=customer, product=hosting, next_due_date=DUE)
    invoice = _renewal_invoice(service, other)
    for each in (service, other):
        cancellation_request(service_id=each.pk, when="end_of_period", reason="", actor=None)
    counts = _run(DUE, "cancellation_requests")
    assert counts == {"cancellation_requests": {"services cancelled": 2, "invoices cancelled": 1}}
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.CANCELLED
    assert Event.objects.filter(name="InvoiceCancelled", payload__invoice_id=invoice.pk).count() == 1


# --- reminders wait for an invoice a cancellation will withdraw lines from -----------------------------------------

WEEK_BEFORE = DUE - datetime.timedelta(days=7)  # the default first reminder level: 7 days before the due date


def _reminded(invoice):
    return sorted(invoice.reminders.values_list("level_days", "skipped"))


def test_an_invoice_for_the_cancelled_period_gets_no_reminder_before_it_is_withdrawn(customer, hosting, service):
    invoice = _renewal_invoice(service)
    _asked(service, "end_of_period", TODAY)
    elsewhere = ServiceFactory(client=ClientFactory(currency=customer.currency), product=hosting, next_due_date=DUE)
    other_invoice = _renewal_invoice(elsewhere)
    # The other client's invoice is reminded as usual: the step ran, and held back only the cancelled period's.
    outcome = automation_run(today=WEEK_BEFORE, only=["payment_reminders"], trigger="test")
    assert outcome.steps[0].counts == {"reminders queued": 1, "reminders held": 1}
    held = f"{invoice.display_number} (client #{customer.pk}): reminder held, a cancellation request will withdraw"
    assert f"{held} lines from it" in outcome.steps[0].plan
    assert (_reminded(invoice), _reminded(other_invoice)) == ([], [(-7, False)])
    assert not OutboundEmail.objects.filter(
        context__invoice_id=invoice.pk, idempotency_key__startswith="reminder:"
    ).exists()
    counts = _run(DUE, "cancellation_requests", "payment_reminders")
    assert counts["cancellation_requests"] == {"services cancelled": 1, "invoices cancelled": 1}
    assert _reminded(invoice) == []


def test_a_combined_invoice_waits_and_is_reminded_of_what_is_left_on_the_due_date(customer, hosting, service):
    other = ServiceFactory(client=customer, product=hosting, next_due_date=DUE, recurring_amount=Decimal("9.99"))
    invoice = _renewal_invoice(service, other)
    _asked(service, "end_of_period", TODAY)
    assert _run(WEEK_BEFORE, "payment_reminders") == {"payment_reminders": {"reminders held": 1}}
    counts = _run(DUE, "cancellation_requests", "payment_reminders")
    assert counts["payment_reminders"] == {"reminders queued": 1, "reminders skipped": 1}
    assert _reminded(invoice) == [(-7, True), (0, False)]
    email = OutboundEmail.objects.get(context__invoice_id=invoice.pk, idempotency_key__startswith="reminder:")
    assert (email.template, email.context["balance_due"]) == ("invoice_reminder_due", "9.99")


def test_a_withdrawn_request_lets_the_reminders_go_again(service):
    invoice = _renewal_invoice(service)
    request = cancellation_request(service_id=service.pk, when="end_of_period", reason="", actor=None)
    assert _run(WEEK_BEFORE, "payment_reminders") == {"payment_reminders": {"reminders held": 1}}
    CancellationRequest.objects.filter(pk=request.pk).update(status=CancellationRequest.Status.WITHDRAWN)
    assert _run(WEEK_BEFORE, "payment_reminders") == {"payment_reminders": {"reminders queued": 1}}
    assert _reminded(invoice) == [(-7, False)]


@pytest.mark.parametrize("when", ["immediate", "end_of_period"])
def test_a_period_that_had_started_keeps_its_reminders(customer, hosting, when):
    started = ServiceFactory(client=customer, product=hosting, next_due_date=TODAY - datetime.timedelta(days=5))
    _run(TODAY - datetime.timedelta(days=15), "renewal_invoicing")
    owed = InvoiceItem.objects.get(kind="service", related_id=started.pk).invoice
    _asked(started, when, TODAY)
    assert _run(TODAY, "payment_reminders") == {"payment_reminders": {"reminders queued": 1, "reminders skipped": 2}}
    assert _reminded(owed) == [(-7, True), (0, True), (1, False)]


def test_an_immediate_request_holds_a_later_periods_invoice_until_the_next_run_cancels_it(customer, hosting):
    service = ServiceFactory(client=customer, product=hosting, next_due_date=TODAY + datetime.timedelta(days=3))
    _run(TODAY - datetime.timedelta(days=10), "renewal_invoicing")  # the period from TODAY + 3
    invoice = InvoiceItem.objects.get(kind="service", related_id=service.pk).invoice
    _asked(service, "immediate", TODAY - datetime.timedelta(days=5))
    assert _run(TODAY - datetime.timedelta(days=4), "payment_reminders") == {"payment_reminders": {"reminders held": 1}}
    assert _reminded(invoice) == []
    counts = _run(TODAY - datetime.timedelta(days=3), "cancellation_requests", "payment_reminders")
    assert counts == {
        "cancellation_requests": {"services cancelled": 1, "invoices cancelled": 1},
        "payment_reminders": {},
    }
    assert _reminded(invoice) == []


def _block_deleting_lines_of(invoice):
    """A fault in the database for one invoice's lines: deleting them fails (a trigger), as a lost connection or a
    constraint would. Rolled back with the test's transaction."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "CREATE FUNCTION test_block_delete() RETURNS trigger AS $$ BEGIN "
                f"IF OLD.invoice_id = {invoice.pk} THEN RAISE EXCEPTION 'deleting is blocked'; END IF; "
                "RETURN OLD; END $$ LANGUAGE plpgsql"
            )
            cursor.execute(
                "CREATE TRIGGER test_block_delete BEFORE DELETE ON billing_invoiceitem "
                "FOR EACH ROW EXECUTE FUNCTION test_block_delete()"
            )
        else:
            cursor.execute(
                "CREATE TRIGGER test_block_delete BEFORE DELETE ON billing_invoiceitem "
                f"WHEN OLD.invoice_id = {invoice.pk} BEGIN SELECT RAISE(ABORT, 'deleting is blocked'); END"
            )


def test_an_invoice_that_fails_is_reported_and_the_rest_of_the_batch_goes_ahead(customer, hosting, service):
    other = ServiceFactory(client=customer, product=hosting, next_due_date=DUE)
    failing = _renewal_invoice(service, other)
    second_client = ClientFactory(currency=customer.currency)
    cancelled_too, kept = (ServiceFactory(client=second_client, product=hosting, next_due_date=DUE) for _ in "ab")
    fine = _renewal_invoice(cancelled_too, kept)
    for each in (service, cancelled_too):
        cancellation_request(service_id=each.pk, when="end_of_period", reason="", actor=None)
    _block_deleting_lines_of(failing)
    outcome = automation_run(today=DUE, only=["cancellation_requests"], trigger="test")
    step = outcome.steps[0]
    assert step.counts == {"services cancelled": 2, "invoices with lines removed": 1}
    assert len(step.errors) == 1
    assert step.errors[0].startswith(f"Invoice #{failing.pk}: the cancelled period's lines were not withdrawn:")
    assert "deleting is blocked" in step.errors[0]
    # The failing invoice is as it was; the other lost its cancelled line; both services ended.
    assert sorted(failing.items.values_list("related_id", flat=True)) == sorted([service.pk, other.pk])
    assert list(fine.items.values_list("related_id", flat=True)) == [kept.pk]
    assert (_state(service), _state(cancelled_too)) == (("terminated", DUE), ("terminated", DUE))


def test_the_hold_names_exactly_the_invoices_the_carry_out_then_withdraws(customer, hosting, settings):
    """The reminders' hold is the carry-out's end day written for the database: run both over one set of
    requests (in a time zone far from UTC, one request asked just after local midnight) and compare."""
    settings.TIME_ZONE = "Pacific/Auckland"  # UTC+13 in December

    def client_with_service(due):
        return ServiceFactory(client=ClientFactory(currency=customer.currency), product=hosting, next_due_date=due)

    started = TODAY - datetime.timedelta(days=5)
    cases = {
        "end of period, asked before it": (client_with_service(DUE), "end_of_period", TODAY),
        "immediate, asked before the period": (client_with_service(DUE), "immediate", TODAY),
        "end of period, asked once it had started": (client_with_service(started), "end_of_period", TODAY),
        "immediate, asked once it had started": (client_with_service(started), "immediate", TODAY),
        "ended meanwhile": (client_with_service(DUE), "end_of_period", TODAY),
        # Asked at 00:30 on the local day the period began (still the day before in UTC): the period had started.
        "asked after local midnight": (client_with_service(DUE - datetime.timedelta(days=1)), "immediate", None),
    }
    _run(TODAY - datetime.timedelta(days=15), "renewal_invoicing")
    _run(TODAY, "renewal_invoicing")
    invoices = {
        name: InvoiceItem.objects.get(kind="service", related_id=service.pk).invoice_id
        for name, (service, _when, _on) in cases.items()
    }
    for service, when, on in cases.values():
        if on is not None:
            _asked(service, when, on)
        else:
            request = cancellation_request(service_id=service.pk, when=when, reason="", actor=None)
            local_midnight = datetime.datetime(2026, 12, 10, 11, 30, tzinfo=datetime.UTC)  # Dec 11, 00:30 local
            CancellationRequest.objects.filter(pk=request.pk).update(requested_at=local_midnight)
    ended = cases["ended meanwhile"][0]
    ended.terminate(on=TODAY)
    ended.save()

    held = set(invoices_awaiting_withdrawal(DUE).values_list("invoice_id", flat=True))
    _run(DUE, "cancellation_requests")
    withdrawn = set(
        Invoice.objects.filter(pk__in=invoices.values(), status=Invoice.Status.CANCELLED).values_list("pk", flat=True)
    )
    expected = {invoices["end of period, asked before it"], invoices["immediate, asked before the period"]}
    assert (held, withdrawn) == (expected, expected)

"""A paid domain renewal keeps the domain alive: paying the renewal invoice moves the expiry date to the end of the
paid registration period (as it moves the next due date), so the run's expiry step leaves the domain alone. An
Expired domain whose renewal is then paid is Active again. Set-based: the queries do not grow with the domains."""

import datetime
import itertools

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from automation.scheduler import automation_run
from billing.models import Invoice, InvoiceItem
from notifications.models import ActivityLog, Event
from provisioning.models import Domain
from provisioning.services import items_paid_through
from tests.factories import DomainFactory, InvoiceFactory, InvoiceLineFactory, TransactionFactory

pytestmark = pytest.mark.django_db

_names = itertools.count()


def _domain(client, *, expires: datetime.date, status=Domain.Status.ACTIVE) -> Domain:
    """A domain registered a year before it expires, due for renewal on its expiry date (as after its first
    payment)."""
    return DomainFactory(
        client=client,
        name=f"renew{next(_names)}.example",
        registration_date=expires.replace(year=expires.year - 1),
        expiry_date=expires,
        status=status,
    )


def _run(day: datetime.date, *only: str):
    outcome = automation_run(today=day, only=list(only), trigger="test")
    assert outcome.ok, [step.errors for step in outcome.steps]
    return outcome


def _renewal_invoice(domain: Domain) -> Invoice:
    item = InvoiceItem.objects.get(kind=InvoiceItem.Kind.DOMAIN, related_id=domain.pk)
    return item.invoice


def test_a_paid_renewal_keeps_the_domain_active_past_its_old_expiry(customer, django_capture_on_commit_callbacks):
    """The issue's reproduction: invoice the renewal through the run, pay it, run the automation past the old
    expiry date."""
    today = timezone.localdate()
    old_expiry = today + datetime.timedelta(days=10)
    domain = _domain(customer, expires=old_expiry)
    _run(today, "renewal_invoicing")
    invoice = _renewal_invoice(domain)

    with django_capture_on_commit_callbacks(execute=True):  # the InvoicePaid handlers run
        TransactionFactory(invoice=invoice)

    new_expiry = old_expiry.replace(year=old_expiry.year + 1)
    domain.refresh_from_db()
    assert (domain.status, domain.expiry_date, domain.next_due_date) == (Domain.Status.ACTIVE, new_expiry, new_expiry)
    after = _run(old_expiry + datetime.timedelta(days=1))  # every step, as `run_automation --date` does
    expiry_step = next(step for step in after.steps if step.name == "domain_expiry")
    assert expiry_step.counts == {}
    domain.refresh_from_db()
    assert (domain.status, domain.expiry_date) == (Domain.Status.ACTIVE, new_expiry)
    assert not Event.objects.filter(name="DomainExpired").exists()
    entry = ActivityLog.objects.get(action="domain_renewed")
    assert (entry.subject_id, entry.client_id, entry.actor_label) == (domain.pk, customer.pk, "system")
    assert entry.message == (
        f"Expiry date of {domain.name} moved from {old_expiry} to {new_expiry}: renewal paid ({invoice}); "
        "no registrar ran"
    )
    assert Event.objects.get(name="DomainRenewed").payload == {
        "domain_id": domain.pk,
        "client_id": customer.pk,
        "invoice_id": invoice.pk,
        "expiry_date": new_expiry.isoformat(),
        "previous_expiry_date": old_expiry.isoformat(),
        "reactivated": False,
    }


def test_an_expired_domain_whose_renewal_is_paid_is_active_again(customer, django_capture_on_commit_callbacks):
    today = timezone.localdate()
    old_expiry = today - datetime.timedelta(days=5)
    domain = _domain(customer, expires=old_expiry)
    _run(old_expiry - datetime.timedelta(days=10), "renewal_invoicing")
    _run(old_expiry + datetime.timedelta(days=1), "domain_expiry")
    domain.refresh_from_db()
    assert domain.status == Domain.Status.EXPIRED  # unpaid, it expired

    with django_capture_on_commit_callbacks(execute=True):  # the InvoicePaid handlers run
        TransactionFactory(invoice=_renewal_invoice(domain))

    new_expiry = old_expiry.replace(year=old_expiry.year + 1)
    domain.refresh_from_db()
    assert (domain.status, domain.expiry_date) == (Domain.Status.ACTIVE, new_expiry)
    assert ActivityLog.objects.get(action="domain_renewed").message.endswith(
        "; it was Expired and is Active again; no registrar ran"
    )
    assert Event.objects.get(name="DomainRenewed").payload["reactivated"] is True
    assert _run(today + datetime.timedelta(days=1), "domain_expiry").steps[0].counts == {}
    domain.refresh_from_db()
    assert domain.status == Domain.Status.ACTIVE


def test_an_expired_domain_whose_paid_period_is_over_stays_expired(customer, django_capture_on_commit_callbacks):
    old_expiry = datetime.date(2026, 1, 10)
    domain = _domain(customer, expires=old_expiry, status=Domain.Status.EXPIRED)
    invoice = InvoiceFactory(client=customer, bills=[domain])
    items_paid_through(invoice_id=invoice.pk, today=datetime.date(2027, 3, 1))
    domain.refresh_from_db()
    assert (domain.status, domain.expiry_date) == (Domain.Status.EXPIRED, datetime.date(2027, 1, 10))


def test_the_expiry_only_moves_forward_and_a_second_handling_changes_nothing(customer):
    today = timezone.localdate()
    domain = _domain(customer, expires=today + datetime.timedelta(days=10))
    invoice = InvoiceFactory(client=customer, bills=[domain])
    later = today + datetime.timedelta(days=800)  # a registrar already confirmed a longer registration
    Domain.objects.filter(pk=domain.pk).update(expiry_date=later)

    items_paid_through(invoice_id=invoice.pk)
    items_paid_through(invoice_id=invoice.pk)

    domain.refresh_from_db()
    assert domain.expiry_date == later
    assert not ActivityLog.objects.filter(action="domain_renewed").exists()
    assert not Event.objects.filter(name="DomainRenewed").exists()


def test_a_pending_domain_gets_no_expiry_from_its_first_payment(pending_order, django_capture_on_commit_callbacks):
    domain = Domain.objects.get(order=pending_order)
    with django_capture_on_commit_callbacks(execute=True):  # the InvoicePaid handlers run
        TransactionFactory(invoice=pending_order.invoice)
    domain.refresh_from_db()
    # Registered by hand (the admin's accept) or by a registrar later: that sets the expiry, not the payment.
    assert (domain.status, domain.expiry_date) == (Domain.Status.PENDING, None)
    assert domain.next_due_date is not None


def test_the_queries_of_a_paid_renewal_do_not_grow_with_its_domains(customer):
    today = timezone.localdate()

    def queries_for(count: int) -> int:
        expires = today + datetime.timedelta(days=10)
        active = [_domain(customer, expires=expires) for _ in range(count)]
        expired = [_domain(customer, expires=expires, status=Domain.Status.EXPIRED) for _ in range(count)]
        invoice = InvoiceFactory(client=customer, bills=active + expired)
        with CaptureQueriesContext(connection) as queries:
            items_paid_through(invoice_id=invoice.pk)
        assert Domain.objects.filter(pk__in=[d.pk for d in active + expired], status="active").count() == 2 * count
        return len(queries)

    assert queries_for(2) == queries_for(25)


def test_two_years_of_one_domain_on_one_invoice_move_its_expiry_past_both(customer):
    domain = _domain(customer, expires=timezone.localdate() + datetime.timedelta(days=10))
    start = domain.next_due_date
    # The later period first, so neither the line order nor the dict order can hide it.
    invoice = InvoiceFactory(
        client=customer,
        lines=[InvoiceLineFactory(bills=domain, period_start=start.replace(year=start.year + year)) for year in (1, 0)],
    )

    items_paid_through(invoice_id=invoice.pk)

    domain.refresh_from_db()
    assert domain.expiry_date == domain.next_due_date == start.replace(year=start.year + 2)

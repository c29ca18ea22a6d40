"""An admin edits a service's or domain's billing dates: the billing day follows a moved due date, through short
months, and stays put when the registration date is corrected; each change is in the activity log with who made
it, and a page left open does not put back a due date a payment moved."""

import datetime
import importlib
from decimal import Decimal

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse

from automation.scheduler import automation_run
from billing.models import Invoice, InvoiceItem
from billing.services import payment_record
from notifications.models import ActivityLog
from provisioning.models import Domain, Service
from provisioning.services import billing_dates_set
from tests.factories import DomainFactory, ServiceFactory
from tests.provisioning.admin_forms import service_form

pytestmark = pytest.mark.django_db

D = datetime.date


def _service(client, product, *, registered, due):
    """A monthly service registered on `registered` and due on `due`, with the fields its admin page shows."""
    return ServiceFactory(
        client=client,
        product=product,
        first_payment_amount=Decimal("6.99"),
        domain="moved.example",
        registration_date=registered,
        next_due_date=due,
    )


def _renew_and_pay(service, times, capture):
    """Invoice the period at the service's due date and pay it, `times` over; the periods billed."""
    for _ in range(times):
        service.refresh_from_db()
        with capture(execute=True):
            outcome = automation_run(today=service.next_due_date, only=["renewal_invoicing"], trigger="test")
        assert outcome.steps[0].error_count == 0, outcome.steps[0].errors
        invoice = Invoice.objects.get(status=Invoice.Status.UNPAID)
        with capture(execute=True):
            payment_record(invoice_id=invoice.pk, amount=invoice.balance_due, gateway="banktransfer", actor=None)
    return list(
        InvoiceItem.objects.filter(kind="service", related_id=service.pk)
        .order_by("period_start")
        .values_list("period_start", "period_end")
    )


def test_a_due_date_moved_to_the_30th_stays_on_the_30th_after_february(
    customer, hosting, admin_user, django_capture_on_commit_callbacks
):
    service = _service(customer, hosting, registered=D(2026, 12, 31), due=D(2027, 1, 31))
    assert billing_dates_set(Service, pk=service.pk, next_due_date=D(2027, 1, 30), actor=admin_user)
    service.refresh_from_db()
    assert (service.next_due_date, service.billing_day) == (D(2027, 1, 30), 30)

    # Before the billing day was kept, the 28th of February led back to the registration day, the 31st.
    assert _renew_and_pay(service, 3, django_capture_on_commit_callbacks) == [
        (D(2027, 1, 30), D(2027, 2, 27)),
        (D(2027, 2, 28), D(2027, 3, 29)),
        (D(2027, 3, 30), D(2027, 4, 29)),
    ]
    service.refresh_from_db()
    assert service.next_due_date == D(2027, 4, 30)


def test_a_due_date_moved_to_the_billing_day_of_a_short_month_keeps_the_billing_day(
    customer, hosting, admin_user, django_capture_on_commit_callbacks
):
    # The admin gives a month's grace: from January 31 to February 28, which is where the 31st falls.
    service = _service(customer, hosting, registered=D(2026, 12, 31), due=D(2027, 1, 31))
    billing_dates_set(Service, pk=service.pk, next_due_date=D(2027, 2, 28), actor=admin_user)
    service.refresh_from_db()
    assert service.billing_day is None  # still the registration date's day
    assert _renew_and_pay(service, 2, django_capture_on_commit_callbacks) == [
        (D(2027, 2, 28), D(2027, 3, 30)),
        (D(2027, 3, 31), D(2027, 4, 29)),
    ]


def test_moving_back_to_the_registration_day_forgets_the_moved_day(customer, hosting, admin_user):
    service = _service(customer, hosting, registered=D(2026, 12, 15), due=D(2027, 1, 15))
    billing_dates_set(Service, pk=service.pk, next_due_date=D(2027, 1, 20), actor=admin_user)
    service.refresh_from_db()
    assert service.billing_day == 20
    billing_dates_set(Service, pk=service.pk, next_due_date=D(2027, 2, 15), actor=admin_user)
    service.refresh_from_db()
    assert (service.next_due_date, service.billing_day) == (D(2027, 2, 15), None)


def test_the_move_is_logged_with_who_made_it_and_the_same_date_changes_nothing(customer, hosting, admin_user):
    service = _service(customer, hosting, registered=D(2026, 12, 31), due=D(2027, 1, 31))
    billing_dates_set(Service, pk=service.pk, next_due_date=D(2027, 1, 30), actor=admin_user)
    entry = ActivityLog.objects.get(action="service_due_date_moved")
    assert (entry.actor_id, entry.actor_label, entry.subject_id, entry.client_id) == (
        admin_user.pk,
        admin_user.get_username(),
        service.pk,
        customer.pk,
    )
    assert entry.message == (
        f"Next due date of {service} moved from 2027-01-31 to 2027-01-30; billed on day 30 of the month"
    )
    assert billing_dates_set(Service, pk=service.pk, next_due_date=D(2027, 1, 30), actor=admin_user) == []
    assert ActivityLog.objects.filter(action="service_due_date_moved").count() == 1


def test_a_cleared_due_date_keeps_the_billing_day(customer, hosting, admin_user):
    service = _service(customer, hosting, registered=D(2026, 12, 31), due=D(2027, 1, 31))
    billing_dates_set(Service, pk=service.pk, next_due_date=D(2027, 1, 30), actor=admin_user)
    billing_dates_set(Service, pk=service.pk, next_due_date=None, actor=admin_user)
    service.refresh_from_db()
    assert (service.next_due_date, service.billing_day) == (None, 30)
    assert (
        ActivityLog.objects.filter(action="service_due_date_moved")
        .first()
        .message.endswith("moved from 2027-01-30 to none")
    )


def _domain(client, product, *, registered, due, billing_day=None):
    return DomainFactory(
        client=client,
        product=product,
        name=f"moved-{due:%Y%m%d}.example",
        registration_date=registered,
        expiry_date=due,
        billing_day=billing_day,
    )


def test_a_domain_move_is_kept_and_logged_too(customer, domain_product, admin_user):
    domain = _domain(customer, domain_product, registered=D(2026, 3, 31), due=D(2027, 3, 31))
    billing_dates_set(Domain, pk=domain.pk, next_due_date=D(2027, 3, 30), actor=admin_user)
    domain.refresh_from_db()
    assert domain.billing_day == 30
    assert ActivityLog.objects.get(action="domain_due_date_moved").subject_type == "provisioning.domain"


def test_the_renewal_reads_a_domains_billing_day(customer, domain_product):
    # Moved onto February 29 once, billed on the 29th since: due on the 28th in 2031, it renews to 2032-02-29
    # (its registration day, the 10th, would give the 28th).
    domain = _domain(customer, domain_product, registered=D(2026, 2, 10), due=D(2031, 2, 28), billing_day=29)
    automation_run(today=D(2031, 2, 28), only=["renewal_invoicing"], trigger="test")
    line = InvoiceItem.objects.get(kind="domain", related_id=domain.pk)
    assert (line.period_start, line.period_end) == (D(2031, 2, 28), D(2032, 2, 28))


def test_correcting_the_registration_date_does_not_move_the_billing_day(
    customer, hosting, admin_user, django_capture_on_commit_callbacks
):
    service = _service(customer, hosting, registered=D(2026, 12, 31), due=D(2027, 1, 31))
    said = billing_dates_set(Service, pk=service.pk, registration_date=D(2026, 12, 15), actor=admin_user)
    assert said == [
        f"Registration date of {service} changed from 2026-12-31 to 2026-12-15; still billed on day 31 of the month"
    ]
    service.refresh_from_db()
    assert (service.registration_date, service.billing_day) == (D(2026, 12, 15), 31)
    # Without the billing day kept, the 28th of February led on to the 28th of every month.
    assert _renew_and_pay(service, 3, django_capture_on_commit_callbacks) == [
        (D(2027, 1, 31), D(2027, 2, 27)),
        (D(2027, 2, 28), D(2027, 3, 30)),
        (D(2027, 3, 31), D(2027, 4, 29)),
    ]


def test_both_dates_in_one_save(customer, hosting, admin_user):
    service = _service(customer, hosting, registered=D(2026, 12, 31), due=D(2027, 1, 31))
    billing_dates_set(
        Service, pk=service.pk, registration_date=D(2026, 12, 20), next_due_date=D(2027, 1, 20), actor=admin_user
    )
    service.refresh_from_db()
    assert (service.registration_date, service.next_due_date, service.billing_day) == (
        D(2026, 12, 20),
        D(2027, 1, 20),
        None,  # the new registration day
    )
    assert set(ActivityLog.objects.values_list("action", flat=True)) == {
        "service_registration_date_changed",
        "service_due_date_moved",
    }


def test_a_due_date_moved_since_the_page_was_shown_is_not_put_back(customer, hosting, admin_user):
    service = _service(customer, hosting, registered=D(2026, 12, 31), due=D(2027, 2, 28))  # a payment moved it
    with pytest.raises(ValidationError, match="was changed to 2027-02-28 while the page was open"):
        billing_dates_set(
            Service, pk=service.pk, next_due_date=D(2027, 1, 30), due_date_seen=D(2027, 1, 31), actor=admin_user
        )
    service.refresh_from_db()
    assert (service.next_due_date, service.billing_day) == (D(2027, 2, 28), None)
    assert not ActivityLog.objects.exists()


def test_the_admin_page_moves_the_due_date_through_the_service_and_saves_the_rest(
    customer, hosting, admin_client, admin_user
):
    service = _service(customer, hosting, registered=D(2026, 12, 31), due=D(2027, 1, 31))
    url = reverse("admin:provisioning_service_change", args=[service.pk])
    response = admin_client.post(url, service_form(service, next_due_date="2027-01-30", username="moved1"))
    assert response.status_code == 302, response.content.decode()[:2000]
    service.refresh_from_db()
    assert (service.next_due_date, service.billing_day, service.username) == (D(2027, 1, 30), 30, "moved1")
    assert ActivityLog.objects.get(action="service_due_date_moved").actor_id == admin_user.pk


def test_saving_the_admin_page_without_moving_the_due_date_logs_no_move(customer, hosting, admin_client):
    service = _service(customer, hosting, registered=D(2026, 12, 31), due=D(2027, 1, 31))
    url = reverse("admin:provisioning_service_change", args=[service.pk])
    assert admin_client.post(url, service_form(service, username="only-this")).status_code == 302
    service.refresh_from_db()
    assert (service.next_due_date, service.billing_day, service.username) == (D(2027, 1, 31), None, "only-this")
    assert not ActivityLog.objects.filter(action="service_due_date_moved").exists()


def test_the_database_refuses_a_billing_day_outside_a_month(customer, hosting):
    service = _service(customer, hosting, registered=D(2026, 12, 31), due=D(2027, 1, 31))
    with pytest.raises(IntegrityError), transaction.atomic():
        Service.objects.filter(pk=service.pk).update(billing_day=32)


def test_a_page_left_open_while_a_payment_moved_the_due_date_neither_puts_it_back_nor_moves_it(
    customer, hosting, admin_client
):
    service = _service(customer, hosting, registered=D(2026, 12, 31), due=D(2027, 1, 31))
    url = reverse("admin:provisioning_service_change", args=[service.pk])
    page = service_form(service)  # the admin opens the page on January 31 ...
    Service.objects.filter(pk=service.pk).update(next_due_date=D(2027, 2, 28))  # ... the client pays ...

    # ... and the admin saves another field: the due date the page still shows is not written back.
    assert admin_client.post(url, {**page, "username": "kept"}).status_code == 302
    service.refresh_from_db()
    assert (service.next_due_date, service.username) == (D(2027, 2, 28), "kept")

    # Moving it from what the page showed is refused with a message, and nothing is saved.
    response = admin_client.post(url, {**page, "next_due_date": "2027-01-30", "username": "not-saved"})
    assert response.status_code == 200
    assert "was changed to 2027-02-28 while this page was open" in response.content.decode()
    service.refresh_from_db()
    assert (service.next_due_date, service.username, service.billing_day) == (D(2027, 2, 28), "kept", None)


def test_the_migration_keeps_the_day_of_due_dates_moved_before_the_field(customer, hosting, domain_product):
    fill = importlib.import_module("provisioning.migrations.0006_billing_day_of_moved_due_dates").fill
    moved = _service(customer, hosting, registered=D(2026, 12, 31), due=D(2027, 1, 30))
    clamped = _service(customer, hosting, registered=D(2026, 12, 31), due=D(2027, 2, 28))
    on_day = _service(customer, hosting, registered=D(2026, 12, 15), due=D(2027, 1, 15))
    domain = _domain(customer, domain_product, registered=D(2026, 3, 10), due=D(2027, 3, 12))
    fill(apps, None)
    days = {item: type(item).objects.get(pk=item.pk).billing_day for item in (moved, clamped, on_day, domain)}
    assert days == {moved: 30, clamped: None, on_day: None, domain: 12}

"""An admin moves a service's or domain's next due date: the billing day follows it, through short months, and the
move is in the activity log with who made it."""

import datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from billing.cycles import BillingCycle
from billing.models import Invoice, InvoiceItem
from billing.services import payment_record
from notifications.models import ActivityLog
from notifications.scheduler import automation_run
from provisioning.models import Domain, Service
from provisioning.services import due_date_move

pytestmark = pytest.mark.django_db

D = datetime.date


def _service(client, product, *, registered, due):
    return Service.objects.create(
        client=client,
        product=product,
        currency=client.currency,
        billing_cycle=BillingCycle.MONTHLY,
        recurring_amount=Decimal("4.99"),
        first_payment_amount=Decimal("6.99"),
        auto_setup="never",
        domain="moved.example",
        registration_date=registered,
        next_due_date=due,
        status=Service.Status.ACTIVE,
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
    assert due_date_move(Service, pk=service.pk, to=D(2027, 1, 30), actor=admin_user)
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
    due_date_move(Service, pk=service.pk, to=D(2027, 2, 28), actor=admin_user)
    service.refresh_from_db()
    assert service.billing_day is None  # still the registration date's day
    assert _renew_and_pay(service, 2, django_capture_on_commit_callbacks) == [
        (D(2027, 2, 28), D(2027, 3, 30)),
        (D(2027, 3, 31), D(2027, 4, 29)),
    ]


def test_moving_back_to_the_registration_day_forgets_the_moved_day(customer, hosting, admin_user):
    service = _service(customer, hosting, registered=D(2026, 12, 15), due=D(2027, 1, 15))
    due_date_move(Service, pk=service.pk, to=D(2027, 1, 20), actor=admin_user)
    service.refresh_from_db()
    assert service.billing_day == 20
    due_date_move(Service, pk=service.pk, to=D(2027, 2, 15), actor=admin_user)
    service.refresh_from_db()
    assert (service.next_due_date, service.billing_day) == (D(2027, 2, 15), None)


def test_the_move_is_logged_with_who_made_it_and_the_same_date_changes_nothing(customer, hosting, admin_user):
    service = _service(customer, hosting, registered=D(2026, 12, 31), due=D(2027, 1, 31))
    due_date_move(Service, pk=service.pk, to=D(2027, 1, 30), actor=admin_user)
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
    assert not due_date_move(Service, pk=service.pk, to=D(2027, 1, 30), actor=admin_user)
    assert ActivityLog.objects.filter(action="service_due_date_moved").count() == 1


def test_a_cleared_due_date_keeps_the_billing_day(customer, hosting, admin_user):
    service = _service(customer, hosting, registered=D(2026, 12, 31), due=D(2027, 1, 31))
    due_date_move(Service, pk=service.pk, to=D(2027, 1, 30), actor=admin_user)
    due_date_move(Service, pk=service.pk, to=None, actor=admin_user)
    service.refresh_from_db()
    assert (service.next_due_date, service.billing_day) == (None, 30)
    assert (
        ActivityLog.objects.filter(action="service_due_date_moved")
        .first()
        .message.endswith("moved from 2027-01-30 to none")
    )


def test_a_domain_keeps_its_moved_day_too(customer, domain_product, admin_user):
    domain = Domain.objects.create(
        client=customer,
        product=domain_product,
        name="moved-domain.example",
        registration_type=Domain.RegistrationType.REGISTER,
        registration_period=1,
        currency=customer.currency,
        recurring_amount=Decimal("12.99"),
        first_payment_amount=Decimal("12.99"),
        registration_date=D(2026, 3, 31),
        expiry_date=D(2027, 3, 31),
        next_due_date=D(2027, 3, 31),
        status=Domain.Status.ACTIVE,
    )
    due_date_move(Domain, pk=domain.pk, to=D(2027, 3, 30), actor=admin_user)
    domain.refresh_from_db()
    assert domain.billing_day == 30
    assert ActivityLog.objects.get(action="domain_due_date_moved").subject_type == "provisioning.domain"
    automation_run(today=D(2027, 3, 30), only=["renewal_invoicing"], trigger="test")
    line = InvoiceItem.objects.get(kind="domain", related_id=domain.pk)
    assert (line.period_start, line.period_end) == (D(2027, 3, 30), D(2028, 3, 29))


def _form(service, **changes):
    data = {
        "server": "",
        "billing_cycle": service.billing_cycle,
        "recurring_amount": str(service.recurring_amount),
        "first_payment_amount": str(service.first_payment_amount),
        "module": service.module,
        "module_settings": "{}",
        "domain": service.domain,
        "username": service.username,
        "registration_date": service.registration_date.isoformat(),
        "next_due_date": service.next_due_date.isoformat(),
    }
    return {**data, **changes}


def test_the_admin_page_moves_the_due_date_through_the_service_and_saves_the_rest(
    customer, hosting, admin_client, admin_user
):
    service = _service(customer, hosting, registered=D(2026, 12, 31), due=D(2027, 1, 31))
    url = reverse("admin:provisioning_service_change", args=[service.pk])
    response = admin_client.post(url, _form(service, next_due_date="2027-01-30", username="moved1"))
    assert response.status_code == 302, response.content.decode()[:2000]
    service.refresh_from_db()
    assert (service.next_due_date, service.billing_day, service.username) == (D(2027, 1, 30), 30, "moved1")
    assert ActivityLog.objects.get(action="service_due_date_moved").actor_id == admin_user.pk


def test_saving_the_admin_page_without_moving_the_due_date_logs_no_move(customer, hosting, admin_client):
    service = _service(customer, hosting, registered=D(2026, 12, 31), due=D(2027, 1, 31))
    url = reverse("admin:provisioning_service_change", args=[service.pk])
    assert admin_client.post(url, _form(service, username="only-this")).status_code == 302
    service.refresh_from_db()
    assert (service.next_due_date, service.billing_day, service.username) == (D(2027, 1, 31), None, "only-this")
    assert not ActivityLog.objects.filter(action="service_due_date_moved").exists()


def test_the_database_refuses_a_billing_day_outside_a_month(customer, hosting):
    from django.db import IntegrityError, transaction

    service = _service(customer, hosting, registered=D(2026, 12, 31), due=D(2027, 1, 31))
    with pytest.raises(IntegrityError), transaction.atomic():
        Service.objects.filter(pk=service.pk).update(billing_day=32)

"""Each change the client hears of queues its email in the service's transaction, once, with a context of plain
values that holds every variable its template reads; a whole automation run queues them without a query per
email."""

import datetime
import json
from decimal import Decimal

import pytest
from django.utils import timezone

from automation.models import AutomationSettings
from automation.scheduler import automation_run
from billing.cycles import BillingCycle
from billing.services import payment_record
from notifications.emails.catalog import COMMON_VARIABLES
from notifications.emails.rendering import PARTS, template_variables
from notifications.models import EmailTemplate, OutboundEmail
from orders.services import CartItem
from provisioning.models import Service
from provisioning.services import cancellation_request
from tests.factories import InvoiceFactory, ServiceFactory

pytestmark = pytest.mark.django_db

DUE = datetime.date(2026, 12, 1)


def _run(day, *steps, **settings):
    AutomationSettings.objects.filter(pk=AutomationSettings.load().pk).update(**settings)
    outcome = automation_run(today=day, only=list(steps), trigger="test")
    assert outcome.ok, [step.errors for step in outcome.steps]


def _templates_read_only_what_their_emails_give():
    """Every queued email's template exists and reads nothing its context lacks; contexts are plain JSON."""
    templates = EmailTemplate.objects.in_bulk(field_name="name")
    for email in OutboundEmail.objects.all():
        template = templates[email.template]
        json.dumps(email.context)  # plain values
        for part in PARTS:
            used, bound = template_variables(getattr(template, part))
            missing = used - bound - set(email.context) - set(COMMON_VARIABLES) - {"forloop"}
            assert not missing, f"{email.template}.{part} reads {missing}, its email gives {sorted(email.context)}"


def test_checkout_payment_late_fee_suspension_and_termination_each_queue_their_email_once(
    customer, hosting, place, django_capture_on_commit_callbacks
):
    order = place(customer, CartItem(product_id=hosting.pk, billing_cycle=BillingCycle.MONTHLY, domain="a.example"))
    service = order.services.get()
    Service.objects.filter(pk=service.pk).update(status=Service.Status.ACTIVE, next_due_date=DUE)
    late = ServiceFactory(client=customer, product=hosting, next_due_date=DUE)
    invoice = InvoiceFactory(client=customer, bills=[late], issue_date=DUE, due_date=DUE)
    fees = {
        "late_fee_enabled": True,
        "late_fee_type": AutomationSettings.LateFeeType.FIXED,
        "late_fee_amount": Decimal("5.00"),
        "late_fee_after_days": 7,
        "late_fee_max_count": 1,
    }
    for _ in range(2):  # a second run queues nothing again
        _run(DUE + datetime.timedelta(days=7), "late_fees", "overdue_suspension", **fees)
    with django_capture_on_commit_callbacks(execute=True):  # InvoicePaid's handlers lift the suspension
        payment_record(
            invoice_id=invoice.pk,
            amount=invoice.total + 5,
            gateway="banktransfer",
            gateway_transaction_id="T1",
            actor=None,
        )
    other = ServiceFactory(client=customer, product=hosting, next_due_date=DUE)
    cancellation_request(service_id=other.pk, when="immediate", reason="", actor=None)
    for _ in range(2):
        _run(DUE + datetime.timedelta(days=8), "cancellation_requests")
    keys = dict(OutboundEmail.objects.values_list("idempotency_key", "template"))
    today = timezone.localdate()  # the day the change was made, not the run's date
    expected = {
        f"order_confirmation:{order.pk}": "order_confirmation",
        f"invoice_created:{order.invoice_id}": "invoice_created",
        f"invoice_created:{invoice.pk}": "invoice_created",
        f"late_fee:{invoice.pk}:1": "late_fee_added",
        f"service_suspended:{late.pk}:{today}": "service_suspended",
        f"cancellation_confirmed:{other.cancellation_requests.get().pk}": "cancellation_confirmed",
        f"service_terminated:{other.pk}:{today}": "service_terminated",
    }
    assert expected.items() <= keys.items()
    assert [t for t in keys.values() if t == "payment_confirmation"] == ["payment_confirmation"]
    assert "service_unsuspended" in keys.values()
    assert all(e.to_address == customer.email and e.client_id == customer.pk for e in OutboundEmail.objects.all())
    late_fee = OutboundEmail.objects.get(template="late_fee_added").context
    assert (late_fee["fee"], late_fee["currency"]) == ("5.00", "USD")
    created = OutboundEmail.objects.get(idempotency_key=f"invoice_created:{invoice.pk}")
    assert created.attachments == [{"kind": "invoice_pdf", "invoice_id": invoice.pk}]
    _templates_read_only_what_their_emails_give()


def test_switched_off_suspension_emails_are_not_queued(customer, hosting):
    late = ServiceFactory(client=customer, product=hosting, next_due_date=DUE)
    InvoiceFactory(client=customer, bills=[late], issue_date=DUE, due_date=DUE)
    _run(DUE + datetime.timedelta(days=7), "overdue_suspension", suspend_email=False)
    assert not OutboundEmail.objects.filter(template="service_suspended").exists()


def test_a_product_names_its_welcome_email(pending_order, admin_user):
    from orders.services import order_accept

    service = pending_order.services.get()
    service.product.welcome_email_template = "hosting_welcome"
    service.product.save(update_fields=["welcome_email_template"])
    order_accept(order=pending_order, actor=admin_user)
    assert OutboundEmail.objects.get(idempotency_key=f"service_welcome:{service.pk}").template == "hosting_welcome"
    _templates_read_only_what_their_emails_give()


def test_a_run_suspending_many_services_queues_their_emails_without_a_query_per_service(
    customer, hosting, django_assert_max_num_queries
):
    def suspend(count):
        services = [ServiceFactory(client=customer, product=hosting, next_due_date=DUE) for _ in range(count)]
        InvoiceFactory(client=customer, bills=services, issue_date=DUE, due_date=DUE)
        with django_assert_max_num_queries(200) as counted:
            _run(DUE + datetime.timedelta(days=7), "overdue_suspension")
        return len(counted.captured_queries)

    few = suspend(2)
    OutboundEmail.objects.all().delete()
    Service.objects.filter(status=Service.Status.SUSPENDED).update(status=Service.Status.TERMINATED)
    many = suspend(30)
    assert many <= few + 2  # the same statements for 30 as for 2
    assert OutboundEmail.objects.filter(template="service_suspended").count() == 30


def test_a_product_may_name_only_a_welcome_template_of_the_catalog(hosting, admin_user):
    from django.contrib import admin
    from django.core.exceptions import ValidationError
    from django.forms.models import model_to_dict
    from django.test import RequestFactory

    from orders.models import Product

    request = RequestFactory().get("/")
    request.user = admin_user
    form_class = admin.site._registry[Product].get_form(request, hosting)
    data = {k: v for k, v in model_to_dict(hosting).items() if v is not None}
    refused = form_class(data={**data, "welcome_email_template": "hosting_welcom"}, instance=hosting)
    assert not refused.is_valid()
    [message] = refused.errors["welcome_email_template"]
    assert "no welcome email template named 'hosting_welcom'" in message and "hosting_welcome" in message
    assert form_class(data={**data, "welcome_email_template": "hosting_welcome"}, instance=hosting).is_valid()
    hosting.welcome_email_template = "invoice"  # a template of the catalog, but not a welcome one
    with pytest.raises(ValidationError):
        hosting.full_clean()

"""A paid renewal of a domain at a registrar that renews is renewed there (issue 18, requirement 5): one renew call
per expiry date it renews from, and the expiry date is the one the registrar confirms, not the paid period's. A
domain without such a registrar moves with the paid period as before (tests/provisioning/test_domain_renewal_paid)."""

import datetime

import pytest
from django.utils import timezone

from automation.scheduler import automation_run
from billing.models import InvoiceItem
from notifications.models import ActivityLog, Event
from provisioning.models import Domain, ModuleCall, ModuleTodo
from provisioning.queue.actions import module_todos_done
from provisioning.registrars.base import TransientRegistrarError
from provisioning.services import items_paid_through
from tests import registrar_package
from tests.factories import DomainFactory, TransactionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_registrar():
    registrar_package.reset()
    yield
    registrar_package.reset()


def _paid_renewal(customer, capture, *, registrar="scripted_registrar"):
    today = timezone.localdate()
    expires = today + datetime.timedelta(days=10)
    domain = DomainFactory(
        client=customer,
        name="renew-me.example",
        registrar=registrar,
        registration_date=expires.replace(year=expires.year - 1),
        expiry_date=expires,
    )
    assert automation_run(today=today, only=["renewal_invoicing"], trigger="test").ok
    invoice = InvoiceItem.objects.get(kind=InvoiceItem.Kind.DOMAIN, related_id=domain.pk).invoice
    with capture(execute=True):  # the InvoicePaid handlers run, and the renew call after them
        TransactionFactory(invoice=invoice)
    domain.refresh_from_db()
    return domain, expires, invoice


def test_a_paid_renewal_is_renewed_at_the_registrar_and_keeps_the_registrars_expiry_date(
    customer, django_capture_on_commit_callbacks
):
    domain, old_expiry, _invoice = _paid_renewal(customer, django_capture_on_commit_callbacks)
    call = ModuleCall.objects.get(domain=domain)
    assert (call.action, call.status, call.idempotency_key) == (
        "renew",
        "succeeded",
        f"domain:{domain.pk}:renew:{old_expiry.isoformat()}",
    )
    registrars_date = old_expiry.replace(year=old_expiry.year + 1) + datetime.timedelta(days=1)
    assert domain.expiry_date == registrars_date  # the registrar's, one day past the paid period's end
    assert domain.next_due_date == old_expiry.replace(year=old_expiry.year + 1)  # billing moves as it did
    assert not Event.objects.filter(name="DomainRenewed").exists()  # nothing moved it before the registrar
    assert Event.objects.filter(name="AfterRegistrarRenew").count() == 1
    assert ActivityLog.objects.filter(action="domain_renewal_queued", subject_id=domain.pk).exists()


def test_a_replayed_payment_asks_the_registrar_for_nothing_more(customer, django_capture_on_commit_callbacks):
    domain, _old_expiry, invoice = _paid_renewal(customer, django_capture_on_commit_callbacks)
    confirmed = domain.expiry_date
    with django_capture_on_commit_callbacks(execute=True):
        items_paid_through(invoice_id=invoice.pk)
    domain.refresh_from_db()
    assert ModuleCall.objects.filter(domain=domain).count() == 1 and domain.expiry_date == confirmed
    assert [action for action, _key in registrar_package.CALLS] == ["renew"]


def test_a_registrar_fault_leaves_the_old_expiry_date_and_the_renewal_waits_to_retry(
    customer, django_capture_on_commit_callbacks
):
    registrar_package.FAULTS.append(TransientRegistrarError("2400 Command failed", code=2400))
    domain, old_expiry, _invoice = _paid_renewal(customer, django_capture_on_commit_callbacks)
    call = ModuleCall.objects.get(domain=domain)
    assert call.status == ModuleCall.Status.RETRYING
    assert (domain.status, domain.expiry_date) == (Domain.Status.ACTIVE, old_expiry)


def test_a_manual_renewal_keeps_the_old_date_until_the_admin_gives_the_new_one(
    customer, admin_user, django_capture_on_commit_callbacks
):
    domain, old_expiry, _invoice = _paid_renewal(customer, django_capture_on_commit_callbacks, registrar="manual")
    todo = ModuleTodo.objects.get(domain=domain)
    assert todo.text.startswith("Renew renew-me.example for 1 year") and domain.expiry_date == old_expiry
    new_date = old_expiry.replace(year=old_expiry.year + 1)
    assert module_todos_done(todo_ids=[todo.pk], actor=admin_user, expiry_date=new_date).done == 1
    domain.refresh_from_db()
    assert domain.expiry_date == new_date


def test_with_auto_renew_off_no_renewal_invoice_is_made_and_on_again_it_is(customer, admin_user):
    from provisioning.services import domain_auto_renew_set

    today = timezone.localdate()
    expires = today + datetime.timedelta(days=10)
    kept = DomainFactory(client=customer, registration_date=expires.replace(year=expires.year - 1), expiry_date=expires)
    let_go = DomainFactory(
        client=customer, registration_date=expires.replace(year=expires.year - 1), expiry_date=expires
    )
    assert domain_auto_renew_set(domain_id=let_go.pk, on=False, actor=customer.user) is True
    assert domain_auto_renew_set(domain_id=let_go.pk, on=False, actor=customer.user) is False
    assert automation_run(today=today, only=["renewal_invoicing"], trigger="test").ok
    billed = set(InvoiceItem.objects.filter(kind=InvoiceItem.Kind.DOMAIN).values_list("related_id", flat=True))
    assert billed == {kept.pk}
    assert ActivityLog.objects.filter(action="domain_auto_renew", subject_id=let_go.pk).count() == 1
    domain_auto_renew_set(domain_id=let_go.pk, on=True, actor=admin_user)
    assert automation_run(today=today, only=["renewal_invoicing"], trigger="test").ok
    billed = set(InvoiceItem.objects.filter(kind=InvoiceItem.Kind.DOMAIN).values_list("related_id", flat=True))
    assert billed == {kept.pk, let_go.pk}


def test_auto_renew_of_a_cancelled_domain_is_refused(customer):
    from django.core.exceptions import ValidationError

    from provisioning.services import domain_auto_renew_set

    domain = DomainFactory(client=customer, status=Domain.Status.CANCELLED)
    with pytest.raises(ValidationError, match="nothing to renew"):
        domain_auto_renew_set(domain_id=domain.pk, on=False, actor=None)

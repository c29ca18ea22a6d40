"""Order review use cases: accept, cancel, fraud, back to pending, delete, and their cascades."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from billing.models import Invoice, InvoiceItem, Transaction
from notifications.models import ActivityLog, Event, OutboundEmail
from orders.models import Order
from orders.services import (
    ServiceAcceptOptions,
    order_accept,
    order_cancel,
    order_delete,
    order_mark_fraud,
    order_set_pending,
)
from provisioning.models import Domain, Service


def _statuses(order):
    order.refresh_from_db()
    order.invoice and order.invoice.refresh_from_db()
    return (
        order.status,
        sorted(order.services.values_list("status", flat=True)),
        sorted(order.domains.values_list("status", flat=True)),
        order.invoice.status if order.invoice else None,
    )


def test_accepting_a_pending_order_activates_its_items_and_records_the_admin(pending_order, admin_user):
    service = pending_order.services.get()
    outcomes = order_accept(order=pending_order, actor=admin_user, reason="looks fine")
    assert _statuses(pending_order) == ("active", ["active"], ["active"], "unpaid")
    service.refresh_from_db()
    assert service.next_due_date == service.registration_date  # nothing advances until the invoice is paid
    assert any("no module ran" in line for line in outcomes)
    change = pending_order.history.last()
    assert (change.from_status, change.to_status, change.actor, change.reason) == (
        "pending",
        "active",
        admin_user,
        "looks fine",
    )
    assert ActivityLog.objects.filter(action="order_accepted", actor=admin_user, subject_id=pending_order.pk).exists()
    assert OutboundEmail.objects.filter(
        template="service_welcome", idempotency_key=f"service_welcome:{service.pk}"
    ).exists()
    assert Event.objects.filter(name="AcceptOrder", payload__order_id=pending_order.pk).exists()


def test_accept_honours_unticked_choices(pending_order, admin_user):
    service, domain = pending_order.services.get(), pending_order.domains.get()
    outcomes = order_accept(
        order=pending_order,
        actor=admin_user,
        service_options={service.pk: ServiceAcceptOptions(run_module_create=False, send_welcome_email=False)},
        registrar_domains={domain.pk: False},
    )
    assert not OutboundEmail.objects.exists()
    assert any("not requested" in line and "Starter" in line for line in outcomes)
    assert any("without contacting a registrar" in line for line in outcomes)
    domain.refresh_from_db()
    assert domain.status == Domain.Status.ACTIVE and domain.expiry_date is not None


def test_cancel_cascades_terminates_live_accounts_and_cancels_the_invoice(pending_order, admin_user):
    order_accept(order=pending_order, actor=admin_user)
    order_cancel(order=pending_order, actor=admin_user, reason="client asked")
    assert _statuses(pending_order) == ("cancelled", ["terminated"], ["cancelled"], "cancelled")
    assert pending_order.services.get().termination_date is not None


def test_cancel_of_a_pending_order_cancels_pending_items(pending_order, admin_user):
    order_cancel(order=pending_order, actor=admin_user)
    assert _statuses(pending_order) == ("cancelled", ["cancelled"], ["cancelled"], "cancelled")


def test_fraud_marks_pending_items_and_terminates_ones_set_up_on_order(pending_order, admin_user):
    # An item provisioned automatically on order is live while the order itself is still Pending.
    service = Service.objects.get(order=pending_order)
    service.activate()
    service.save()
    order_mark_fraud(order=pending_order, actor=admin_user)
    assert _statuses(pending_order) == ("fraud", ["terminated"], ["fraud"], "cancelled")


@pytest.mark.parametrize("withdraw", [order_cancel, order_mark_fraud])
def test_back_to_pending_reopens_items_and_the_invoice(withdraw, pending_order, admin_user):
    withdraw(order=pending_order, actor=admin_user)
    order_set_pending(order=pending_order, actor=admin_user)
    assert _statuses(pending_order) == ("pending", ["pending"], ["pending"], "unpaid")
    assert list(pending_order.history.values_list("to_status", flat=True)) == [
        "pending",
        "cancelled" if withdraw is order_cancel else "fraud",
        "pending",
    ]


def test_a_paid_invoice_is_left_alone_by_cancel(pending_order, admin_user):
    invoice = pending_order.invoice
    invoice.mark_paid(at=invoice.created_at)
    invoice.save()
    order_cancel(order=pending_order, actor=admin_user)
    assert _statuses(pending_order)[3] == "paid"


@pytest.mark.parametrize(
    ("status_path", "action", "label"),
    [
        ([order_accept], order_accept, "cannot be accepted"),
        ([order_accept], order_mark_fraud, "cannot be marked as fraud"),
        ([order_cancel], order_cancel, "cannot be cancelled"),
        ([], order_set_pending, "cannot be set back to pending"),
        ([order_accept], order_set_pending, "cannot be set back to pending"),
        ([order_mark_fraud], order_accept, "cannot be accepted"),
    ],
)
def test_a_transition_not_allowed_is_refused_and_changes_nothing(status_path, action, label, pending_order, admin_user):
    for step in status_path:
        step(order=pending_order, actor=admin_user)
    before = _statuses(pending_order)
    history = pending_order.history.count()
    with pytest.raises(ValidationError, match=label):
        action(order=pending_order, actor=admin_user)
    assert _statuses(pending_order) == before
    assert pending_order.history.count() == history


def test_delete_removes_the_order_its_items_and_invoice(pending_order, admin_user):
    invoice_id = pending_order.invoice_id
    order_delete(order=pending_order, actor=admin_user)
    assert not Order.objects.filter(pk=pending_order.pk).exists()
    assert not Service.objects.exists() and not Domain.objects.exists()
    assert not Invoice.objects.filter(pk=invoice_id).exists()
    assert not InvoiceItem.objects.filter(invoice_id=invoice_id).exists()
    assert ActivityLog.objects.filter(action="order_deleted", subject_id=pending_order.pk).exists()


def test_delete_is_refused_while_an_account_is_live(pending_order, admin_user):
    order_accept(order=pending_order, actor=admin_user)
    with pytest.raises(ValidationError, match="Cancel the order first"):
        order_delete(order=pending_order, actor=admin_user)
    assert Order.objects.filter(pk=pending_order.pk).exists()
    assert Service.objects.filter(order=pending_order).count() == 1


def test_delete_is_refused_when_money_was_recorded(pending_order, admin_user):
    Transaction.objects.create(
        client=pending_order.client,
        invoice=pending_order.invoice,
        currency=pending_order.currency,
        gateway="banktransfer",
        gateway_transaction_id="T-1",
        amount_in=Decimal("1.00"),
    )
    with pytest.raises(ValidationError, match="payments recorded"):
        order_delete(order=pending_order, actor=admin_user)
    assert Order.objects.filter(pk=pending_order.pk).exists()
    assert Service.objects.filter(order=pending_order).exists()

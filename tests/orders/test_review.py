"""Order review use cases: accept, cancel, fraud, back to pending, delete, and their cascades."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from billing.models import Invoice, InvoiceItem, Transaction
from notifications.models import ActivityLog, Event, OutboundEmail
from orders.models import Order
from orders.services import (
    CartItem,
    ServiceAcceptOptions,
    order_accept,
    order_cancel,
    order_delete,
    order_mark_fraud,
    order_set_pending,
)
from orders.wording import review_line_words
from provisioning.models import Domain, Service
from tests.factories import ClientFactory, PricingFactory, ProductFactory


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
    # The domain waits for a registrar (none exists yet) instead of being called Active with a guessed expiry.
    assert _statuses(pending_order) == ("active", ["active"], ["pending_registration"], "unpaid")
    assert pending_order.domains.get().expiry_date is None
    assert any("no registrar is chosen for it" in line for line in map(review_line_words, outcomes))
    service.refresh_from_db()
    assert service.next_due_date == service.registration_date  # nothing advances until the invoice is paid
    assert any("no module ran" in line for line in map(review_line_words, outcomes))
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
    assert not OutboundEmail.objects.filter(template="service_welcome").exists()
    assert any("not requested" in line and "Starter" in line for line in map(review_line_words, outcomes))
    assert any("by hand without a registrar" in line for line in map(review_line_words, outcomes))
    domain.refresh_from_db()
    assert domain.status == Domain.Status.ACTIVE and domain.expiry_date is not None


def test_cancel_cascades_terminates_live_accounts_and_cancels_the_invoice(pending_order, admin_user):
    order_accept(order=pending_order, actor=admin_user)
    order_cancel(order=pending_order, actor=admin_user, reason="client asked")
    assert _statuses(pending_order) == ("cancelled", ["terminated"], ["cancelled"], "cancelled")
    assert pending_order.services.get().termination_date is not None


@pytest.mark.parametrize(("withdraw", "status"), [(order_cancel, "cancelled"), (order_mark_fraud, "fraud")])
def test_a_suspended_account_is_terminated_too(withdraw, status, pending_order, admin_user):
    service = Service.objects.get(order=pending_order)
    service.activate()
    service.suspend(reason=Service.SuspensionReason.ABUSE)
    service.save()
    withdraw(order=pending_order, actor=admin_user)
    service.refresh_from_db()
    assert (service.status, service.suspension_reason) == ("terminated", "")
    assert _statuses(pending_order)[0] == status


def test_a_draft_invoice_is_cancelled_with_its_order(pending_order, admin_user):
    invoice = pending_order.invoice
    invoice.return_to_draft()
    invoice.save()
    order_cancel(order=pending_order, actor=admin_user)
    assert _statuses(pending_order)[3] == "cancelled"


@pytest.mark.parametrize(
    ("action", "log_action"),
    [(order_cancel, "order_cancelled"), (order_mark_fraud, "order_fraud"), (order_accept, "order_accepted")],
)
def test_each_review_action_logs_the_acting_admin(action, log_action, pending_order, admin_user):
    action(order=pending_order, actor=admin_user, reason="because")
    entry = ActivityLog.objects.get(action=log_action, subject_id=pending_order.pk)
    assert (entry.actor, entry.actor_label) == (admin_user, admin_user.username)
    assert "because" in entry.message
    assert pending_order.history.last().actor == admin_user


def test_setting_back_to_pending_logs_the_acting_admin(pending_order, admin_user):
    order_cancel(order=pending_order, actor=None)
    order_set_pending(order=pending_order, actor=admin_user)
    assert ActivityLog.objects.get(action="order_pending").actor == admin_user
    assert pending_order.history.last().actor_label == admin_user.username


def test_a_transfer_waits_in_pending_transfer(customer, domain_product, place, admin_user):
    order = place(
        customer,
        CartItem(product_id=domain_product.pk, billing_cycle="annually", domain="moving.com", domain_action="transfer"),
    )
    order_accept(order=order, actor=admin_user)
    assert order.domains.get().status == Domain.Status.PENDING_TRANSFER


def test_accepting_again_does_not_queue_a_second_welcome_email(pending_order, admin_user):
    order_accept(order=pending_order, actor=admin_user)
    order_cancel(order=pending_order, actor=admin_user)
    order_set_pending(order=pending_order, actor=admin_user)
    outcomes = order_accept(order=pending_order, actor=admin_user)
    assert OutboundEmail.objects.filter(template="service_welcome").count() == 1
    assert any("welcome email not queued again" in line for line in map(review_line_words, outcomes))


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


def test_delete_is_refused_while_a_domain_is_at_the_registrar(pending_order, admin_user):
    order_accept(order=pending_order, actor=admin_user)
    order_cancel(order=pending_order, actor=admin_user)
    order_set_pending(order=pending_order, actor=admin_user)
    domain = pending_order.domains.get()
    domain.request_registration()
    domain.save()
    with pytest.raises(ValidationError, match=r"domain shop-example\.com"):
        order_delete(order=pending_order, actor=admin_user)
    assert Order.objects.filter(pk=pending_order.pk).exists()


def test_delete_is_refused_for_a_paid_invoice_even_without_transactions(pending_order, admin_user):
    invoice = pending_order.invoice
    invoice.mark_paid(at=invoice.created_at)
    invoice.save()
    order_cancel(order=pending_order, actor=admin_user)
    with pytest.raises(ValidationError, match="is Paid"):
        order_delete(order=pending_order, actor=admin_user)
    assert Invoice.objects.filter(pk=invoice.pk).exists() and Order.objects.filter(pk=pending_order.pk).exists()


def test_delete_is_refused_when_credit_was_applied(pending_order, admin_user):
    Invoice.objects.filter(pk=pending_order.invoice_id).update(credit_applied=Decimal("1.00"))
    with pytest.raises(ValidationError, match="credit applied"):
        order_delete(order=pending_order, actor=admin_user)
    assert Order.objects.filter(pk=pending_order.pk).exists()


def test_back_to_pending_is_refused_when_the_domain_was_ordered_by_someone_else(
    pending_order, admin_user, domain_product, usd, place
):
    order_cancel(order=pending_order, actor=admin_user)
    place(
        ClientFactory(currency=usd),
        CartItem(product_id=domain_product.pk, billing_cycle="annually", domain="shop-example.com"),
    )
    with pytest.raises(ValidationError, match=r"shop-example\.com is already ordered or registered here"):
        order_set_pending(order=pending_order, actor=admin_user)
    assert _statuses(pending_order) == ("cancelled", ["cancelled"], ["cancelled"], "cancelled")
    assert Domain.objects.filter(name="shop-example.com", status="pending").count() == 1


@pytest.fixture
def vps(usd):
    product = ProductFactory(name="VPS", stock_control=True, stock_quantity=1)
    PricingFactory(product=product, currency=usd)
    return product


def _stock(product):
    product.refresh_from_db()
    return product.stock_quantity


@pytest.mark.parametrize("withdraw", [order_cancel, order_mark_fraud])
def test_withdrawn_orders_give_their_stock_back_and_back_to_pending_takes_it_again(
    withdraw, customer, vps, place, admin_user
):
    order = place(customer, CartItem(product_id=vps.pk, billing_cycle="monthly"))
    assert _stock(vps) == 0
    withdraw(order=order, actor=admin_user)
    assert _stock(vps) == 1
    order_set_pending(order=order, actor=admin_user)
    assert _stock(vps) == 0


def test_back_to_pending_is_refused_when_stock_ran_out_meanwhile(customer, vps, place, admin_user):
    order = place(customer, CartItem(product_id=vps.pk, billing_cycle="monthly"))
    order_mark_fraud(order=order, actor=admin_user)
    # Someone else takes the last one: the same client's next order would go to Fraud (earlier Fraud order).
    place(ClientFactory(currency=customer.currency), CartItem(product_id=vps.pk, billing_cycle="monthly"))
    with pytest.raises(ValidationError, match="VPS is out of stock"):
        order_set_pending(order=order, actor=admin_user)
    assert _statuses(order)[:2] == ("fraud", ["fraud"])
    assert _stock(vps) == 0


def test_deleting_a_pending_order_gives_its_stock_back(customer, vps, place, admin_user):
    order = place(customer, CartItem(product_id=vps.pk, billing_cycle="monthly"))
    order_delete(order=order, actor=admin_user)
    assert _stock(vps) == 1


def test_deleting_a_cancelled_order_does_not_give_stock_back_twice(customer, vps, place, admin_user):
    order = place(customer, CartItem(product_id=vps.pk, billing_cycle="monthly"))
    order_cancel(order=order, actor=admin_user)
    order_delete(order=order, actor=admin_user)
    assert _stock(vps) == 1


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

"""Auto-setup honoured: a product set up on order is set up once its checkout commits, one set up on payment when
the invoice that billed it is paid (once, however often the payment's event is handled), and the automation
settings may keep both to clients who already have an active service. The order stays Pending throughout."""

import pytest
from django.core.exceptions import ValidationError

from automation.models import AutomationSettings
from automation.services import automation_settings_update
from billing.cycles import BillingCycle
from notifications.bus import dispatch
from notifications.models import ActivityLog, Event
from orders.models import Order
from orders.services import CartItem, ServiceAcceptOptions, order_accept
from provisioning.models import ModuleCall, Service
from tests import module_package
from tests.factories import OrderFactory, ServiceFactory, TransactionFactory
from tests.provisioning.modules_helpers import scripted_product, scripted_server

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_module():
    module_package.reset()
    yield
    module_package.reset()


def _order(customer, auto_setup: str):
    server = scripted_server(f"panel-{auto_setup}")
    product = scripted_product(server.groups.first(), auto_setup=auto_setup, currency=customer.currency)
    order = OrderFactory(
        client=customer, items=[CartItem(product_id=product.pk, billing_cycle=BillingCycle.MONTHLY, domain="a.example")]
    )
    return order, Service.objects.get(order=order), server


def _restrict():
    automation_settings_update(actor=None, auto_setup_known_clients_only=True)


def test_a_product_set_up_on_order_is_created_once_the_checkout_commits(customer):
    order, service, server = _order(customer, "order")
    service.refresh_from_db()
    order.refresh_from_db()
    assert service.status == Service.Status.ACTIVE and service.server_id == server.pk
    assert ModuleCall.objects.get(service=service).status == "succeeded"
    assert order.status == Order.Status.PENDING  # the admin still accepts the order
    assert [call[0] for call in module_package.CALLS] == ["create"]


def test_a_product_set_up_on_payment_waits_for_the_payment_and_is_created_once(
    customer, django_capture_on_commit_callbacks
):
    order, service, _server = _order(customer, "payment")
    assert not ModuleCall.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):  # the InvoicePaid handlers run
        TransactionFactory(invoice=order.invoice)
    service.refresh_from_db()
    assert service.status == Service.Status.ACTIVE
    # The payment's event handled again (a replay): the create's key finds the call, nothing is asked again.
    paid = Event.objects.get(name="InvoicePaid", payload__invoice_id=order.invoice_id)
    from provisioning.services.auto_setup import invoice_auto_setup

    with django_capture_on_commit_callbacks(execute=True):
        assert invoice_auto_setup(invoice_id=order.invoice_id) == []  # not Pending any more
        dispatch(paid.pk)
    assert ModuleCall.objects.filter(service=service).count() == 1
    assert [call[0] for call in module_package.CALLS] == ["create"]
    order.refresh_from_db()
    assert order.status == Order.Status.PENDING


def test_a_replayed_payment_while_the_create_is_still_queued_asks_nothing_again(customer):
    from provisioning.services.auto_setup import invoice_auto_setup

    order, service, _server = _order(customer, "payment")
    first = invoice_auto_setup(invoice_id=order.invoice_id)  # no commit: the call stays queued, service Pending
    second = invoice_auto_setup(invoice_id=order.invoice_id)
    assert first[0].setup.setup.value == "create_queued"
    assert second[0].setup.setup.value == "create_already_queued"
    assert second[0].setup.call_id == first[0].setup.call_id
    assert ModuleCall.objects.filter(service=service).count() == 1


def test_a_product_set_up_on_accept_or_never_is_not_set_up_on_order_or_payment(
    customer, django_capture_on_commit_callbacks
):
    for mode in ("accept", "never"):
        order, service, _server = _order(customer, mode)
        with django_capture_on_commit_callbacks(execute=True):
            TransactionFactory(invoice=order.invoice)
        service.refresh_from_db()
        assert service.status == Service.Status.PENDING
        assert not ModuleCall.objects.filter(service=service).exists()


def test_never_is_still_set_up_when_the_admin_accepts_with_run_module_create(
    customer, django_capture_on_commit_callbacks
):
    order, service, _server = _order(customer, "never")
    with django_capture_on_commit_callbacks(execute=True):
        order_accept(order=order, actor=None, service_options={service.pk: ServiceAcceptOptions()})
    service.refresh_from_db()
    assert service.status == Service.Status.ACTIVE
    assert ModuleCall.objects.filter(service=service, action="create").count() == 1


def test_the_restriction_keeps_a_new_clients_service_pending_and_says_why(customer, django_capture_on_commit_callbacks):
    _restrict()
    order, service, _server = _order(customer, "order")
    service.refresh_from_db()
    assert service.status == Service.Status.PENDING
    assert not ModuleCall.objects.exists()
    held = ActivityLog.objects.get(action="service_auto_setup_held")
    assert "kept to clients who already have an active service" in held.message
    with django_capture_on_commit_callbacks(execute=True):
        TransactionFactory(invoice=order.invoice)  # payment does not set up an on-order service either
    assert not ModuleCall.objects.exists()
    # The admin's accept sets it up.
    with django_capture_on_commit_callbacks(execute=True):
        order_accept(order=order, actor=None)
    service.refresh_from_db()
    assert service.status == Service.Status.ACTIVE


def test_the_restriction_lets_a_client_with_an_active_service_through(customer, django_capture_on_commit_callbacks):
    _restrict()
    ServiceFactory(client=customer, status=Service.Status.ACTIVE)
    order, service, _server = _order(customer, "payment")
    with django_capture_on_commit_callbacks(execute=True):
        TransactionFactory(invoice=order.invoice)
    service.refresh_from_db()
    assert service.status == Service.Status.ACTIVE
    assert not ActivityLog.objects.filter(action="service_auto_setup_held").exists()


def test_a_refused_auto_setup_is_logged_and_leaves_the_service_pending(customer):
    server = scripted_server()
    product = scripted_product(server.groups.first(), auto_setup="order", currency=customer.currency)
    product.module = "not-installed"
    product.save(update_fields=["module"])
    order = OrderFactory(client=customer, items=[CartItem(product_id=product.pk, billing_cycle=BillingCycle.MONTHLY)])
    service = Service.objects.get(order=order)
    assert service.status == Service.Status.PENDING
    refused = ActivityLog.objects.get(action="service_auto_setup_refused")
    assert "not-installed" in refused.message


def test_the_setting_is_an_admin_setting_not_an_environment_variable():
    from django.conf import settings

    assert not hasattr(settings, "PORTAL_AUTO_SETUP_ONLY_KNOWN_CLIENTS")
    assert AutomationSettings.load().auto_setup_known_clients_only is False
    with pytest.raises(ValidationError):
        automation_settings_update(actor=None, no_such_setting=True)

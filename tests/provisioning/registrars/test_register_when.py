"""When a paid-for domain goes to its registrar (issue 18, requirement 4: per TLD, on payment, on accept, or by
hand), and the TLD's auto-renew default for new domains."""

import pytest
from django.urls import reverse

from orders.models import Order
from orders.services import CartItem
from provisioning.models import Domain, ModuleCall, Tld
from tests.factories import TransactionFactory

pytestmark = pytest.mark.django_db


def _order(place, customer, domain_product, name="paid.example"):
    return place(customer, CartItem(product_id=domain_product.pk, billing_cycle="annually", domain=name, years=1))


def test_a_tld_registered_on_payment_sends_the_domain_when_its_invoice_is_paid_and_the_order_stays_pending(
    customer, domain_product, tld_example, place, django_capture_on_commit_callbacks
):
    Tld.objects.filter(pk=tld_example.pk).update(register_when=Tld.RegisterWhen.ON_PAYMENT)
    order = _order(place, customer, domain_product)
    domain = order.domains.get()
    assert domain.status == Domain.Status.PENDING and not ModuleCall.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):  # the InvoicePaid handlers run
        TransactionFactory(invoice=order.invoice)
    domain.refresh_from_db()
    order.refresh_from_db()
    call = ModuleCall.objects.get(domain=domain)
    assert (call.action, call.status) == ("register", "succeeded")
    assert domain.status == Domain.Status.ACTIVE and domain.expiry_date is not None
    assert order.status == Order.Status.PENDING


@pytest.mark.parametrize("when", [Tld.RegisterWhen.ON_ACCEPT, Tld.RegisterWhen.BY_HAND])
def test_other_tlds_wait_for_the_admin_after_payment(
    customer, domain_product, tld_example, place, when, django_capture_on_commit_callbacks
):
    Tld.objects.filter(pk=tld_example.pk).update(register_when=when)
    order = _order(place, customer, domain_product)
    with django_capture_on_commit_callbacks(execute=True):
        TransactionFactory(invoice=order.invoice)
    assert order.domains.get().status == Domain.Status.PENDING and not ModuleCall.objects.exists()


def test_the_accept_form_leaves_send_to_registrar_unticked_for_a_tld_registered_by_hand(
    customer, domain_product, tld_example, place, admin_client
):
    order = _order(place, customer, domain_product)
    domain = order.domains.get()
    url = reverse("admin:orders_order_accept", args=[order.pk])
    box = f'name="dom_{domain.pk}_registrar"'
    ticked = admin_client.get(url).content.decode()
    assert box in ticked and f'{box} id="id_dom_{domain.pk}_registrar" checked' in ticked
    Tld.objects.filter(pk=tld_example.pk).update(register_when=Tld.RegisterWhen.BY_HAND)
    unticked = admin_client.get(url).content.decode()
    assert box in unticked and f'{box} id="id_dom_{domain.pk}_registrar" checked' not in unticked
    assert "registered by hand" in unticked


def test_a_new_domain_takes_its_tlds_auto_renew_default(customer, domain_product, tld_example, place):
    Tld.objects.filter(pk=tld_example.pk).update(auto_renew_default=False)
    assert _order(place, customer, domain_product, "off.example").domains.get().auto_renew is False
    Tld.objects.filter(pk=tld_example.pk).update(auto_renew_default=True)
    assert _order(place, customer, domain_product, "on.example").domains.get().auto_renew is True

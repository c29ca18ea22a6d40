"""The admin's accept form: per service with a module, a server (the module's active servers; blank: the group
picks), a username pre-filled with the module's suggestion and a password (blank: generated), beside the "run
module create" and welcome boxes. A refused value is a form error and nothing is accepted; what happened is in the
admin's messages."""

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from billing.cycles import BillingCycle
from core import crypto
from orders.models import Order
from orders.services import CartItem
from provisioning.models import ModuleCall, Service
from tests import module_package
from tests.factories import OrderFactory
from tests.provisioning.modules_helpers import scripted_product, scripted_server

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_module():
    module_package.reset()
    yield
    module_package.reset()


@pytest.fixture
def order(customer):
    first = scripted_server("panel-a")
    group = first.groups.first()
    scripted_server("panel-b", group=group)
    scripted_server("panel-off", group=group, active=False)
    product = scripted_product(group, auto_setup="accept", currency=customer.currency)
    return OrderFactory(
        client=customer,
        items=[CartItem(product_id=product.pk, billing_cycle=BillingCycle.MONTHLY, domain="shop.example.com")],
    )


def _url(order):
    return reverse("admin:orders_order_accept", args=[order.pk])


def _post(admin_client, order, django_capture_on_commit_callbacks, **fields):
    service = Service.objects.get(order=order)
    data = {f"svc_{service.pk}_{name}": value for name, value in fields.items()}
    with django_capture_on_commit_callbacks(execute=True):
        return admin_client.post(_url(order), {"confirm": "1", **data})


def test_the_form_offers_the_modules_active_servers_and_the_suggested_username(admin_client, order):
    service = Service.objects.get(order=order)
    page = admin_client.get(_url(order)).content.decode()
    assert f'name="svc_{service.pk}_server"' in page
    assert "panel-a" in page and "panel-b" in page and "panel-off" not in page
    assert "Picked by the product&#x27;s server group" in page
    assert f'value="shop{service.pk}"' in page  # the module's suggestion
    assert f'name="svc_{service.pk}_password"' in page and 'type="password"' in page


def test_accepting_with_a_chosen_server_username_and_password(admin_client, order, django_capture_on_commit_callbacks):
    service = Service.objects.get(order=order)
    server_b = service.product.server_group.servers.get(name="panel-b")
    response = _post(
        admin_client,
        order,
        django_capture_on_commit_callbacks,
        module="on",
        welcome="on",
        server=str(server_b.pk),
        username="chosen1",
        password="Chosen-passw0rd",
    )
    assert response.status_code == 302
    service.refresh_from_db()
    call = ModuleCall.objects.get(service=service)
    assert (service.status, service.server_id, service.username) == ("active", server_b.pk, "chosen1")
    said = [str(m) for m in get_messages(response.wsgi_request)]
    assert any(f"module create queued (call #{call.pk})" in line for line in said), said
    # The module's create returned its own password: what it set is what is kept.
    assert crypto.decrypt(service.password_token) == "s3cret-from-module"
    assert module_package.CALLS[0][0] == "create"


def test_blank_choices_take_the_defaults(admin_client, order, django_capture_on_commit_callbacks):
    service = Service.objects.get(order=order)
    _post(admin_client, order, django_capture_on_commit_callbacks, module="on", server="", username="", password="")
    service.refresh_from_db()
    assert service.status == "active" and service.server.name in ("panel-a", "panel-b")
    assert service.username == f"shop{service.pk}"


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"username": "bad name;drop"}, "is not allowed here"),
        ({"password": "short"}, "A password needs"),
        ({"server": "999999"}, "Select a valid choice"),
    ],
)
def test_a_refused_value_is_a_form_error_and_accepts_nothing(
    admin_client, order, django_capture_on_commit_callbacks, fields, error
):
    response = _post(admin_client, order, django_capture_on_commit_callbacks, module="on", **fields)
    assert response.status_code == 200 and error in response.content.decode()
    order.refresh_from_db()
    assert order.status == Order.Status.PENDING
    assert Service.objects.get(order=order).status == "pending" and not ModuleCall.objects.exists()


def test_a_refusal_of_the_accept_itself_shows_on_the_form(admin_client, order, django_capture_on_commit_callbacks):
    """Another admin accepted the order meanwhile: the second submit is refused on the form, and no second create
    is asked."""
    from orders.services import order_accept

    with django_capture_on_commit_callbacks(execute=True):
        order_accept(order=order, actor=None)
    response = _post(admin_client, order, django_capture_on_commit_callbacks, module="on")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Nothing was accepted." in page and "errorlist" in page
    assert ModuleCall.objects.filter(action="create").count() == 1

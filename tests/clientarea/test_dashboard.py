from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from billing.cycles import BillingCycle
from orders.services import CartItem, order_place
from tests.factories import ClientFactory


def test_the_client_area_asks_for_a_login(client, db):
    response = client.get(reverse("clientarea:dashboard"))
    assert response.status_code == 302 and response.url.startswith(reverse("login"))


def test_a_client_logs_in_and_sees_only_their_own_orders_services_and_invoices(client, pending_order, hosting, usd):
    stranger = ClientFactory(currency=usd, contact_name="Stranger")
    theirs = order_place(
        client=stranger,
        actor=None,
        items=[CartItem(product_id=hosting.pk, billing_cycle=BillingCycle.MONTHLY, domain="stranger.example.org")],
    )
    response = client.post(
        reverse("login"), {"username": pending_order.client.user.username, "password": "correct-horse-battery"}
    )
    assert response.status_code == 302
    page = client.get(reverse("clientarea:dashboard")).content.decode()
    assert pending_order.number in page and "shop.example.com" in page and "shop-example.com" in page
    assert theirs.number not in page and "stranger.example.org" not in page


def test_the_dashboard_does_not_query_per_row(client, customer, hosting):
    def queries_with(count):
        for n in range(count):
            order_place(
                client=customer,
                actor=None,
                items=[CartItem(product_id=hosting.pk, billing_cycle=BillingCycle.MONTHLY, domain=f"s{n}.example.com")],
            )
        with CaptureQueriesContext(connection) as queries:
            response = client.get(reverse("clientarea:dashboard"))
        assert response.status_code == 200
        return len(queries)

    client.force_login(customer.user)
    assert queries_with(1) == queries_with(8)


def test_a_login_without_a_client_account_gets_a_plain_notice(client, admin_user):
    client.force_login(admin_user)
    assert "not linked to a client account" in client.get(reverse("clientarea:dashboard")).content.decode()

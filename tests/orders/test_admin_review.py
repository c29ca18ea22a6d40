"""Order review through the admin's own views, with the test client, as an admin would click it."""

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from billing.cycles import BillingCycle
from orders.models import Order
from orders.services import CartItem, order_accept, order_cancel, order_place
from provisioning.models import Domain, Service
from tests.factories import ClientFactory


def _change_url(order):
    return reverse("admin:orders_order_change", args=[order.pk])


def _action_url(order, action):
    if action == "accept":
        return reverse("admin:orders_order_accept", args=[order.pk])
    return reverse("admin:orders_order_transition", args=[order.pk, action])


def _messages(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


@pytest.fixture
def many_orders(customer, hosting, usd):
    others = [ClientFactory(currency=usd, contact_name=f"Other{n} Person") for n in range(5)]
    return [
        order_place(
            client=client,
            actor=None,
            ip_address=f"198.51.100.{n}",
            items=[CartItem(product_id=hosting.pk, billing_cycle=BillingCycle.MONTHLY, domain=f"s{n}.example.com")],
        )
        for n, client in enumerate([customer, *others])
    ]


def _queries_for(client, url) -> tuple[int, str]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries), response.content.decode()


def test_the_order_list_does_not_query_per_row(admin_client, customer, hosting, place):
    def add_orders(count):
        for _ in range(count):
            place(customer, CartItem(product_id=hosting.pk, billing_cycle="monthly", domain="q.example.com"))

    url = reverse("admin:orders_order_changelist")
    add_orders(2)
    few, _page = _queries_for(admin_client, url)
    add_orders(18)
    many, page = _queries_for(admin_client, url)
    assert many == few
    assert page.count('class="field-number"') == 20


@pytest.mark.parametrize("query", ["number", "ip", "client"])
def test_the_order_list_searches_by_number_ip_and_client(query, admin_client, many_orders):
    wanted = many_orders[3]
    term = {"number": wanted.number, "ip": "198.51.100.3", "client": wanted.client.contact_name}[query]
    response = admin_client.get(reverse("admin:orders_order_changelist"), {"q": term})
    page = response.content.decode()
    assert wanted.number in page
    assert many_orders[1].number not in page


def test_the_order_list_filters_by_status(admin_client, many_orders, admin_user):
    order_accept(order=many_orders[0], actor=admin_user)
    response = admin_client.get(reverse("admin:orders_order_changelist"), {"status__exact": "active"})
    page = response.content.decode()
    assert many_orders[0].number in page and many_orders[1].number not in page


@pytest.mark.parametrize(
    ("prepare", "buttons"),
    [
        ([], {"accept", "cancel", "fraud"}),
        (["accept"], {"cancel"}),
        (["cancel"], {"pending"}),
        (["fraud"], {"pending"}),
    ],
)
def test_the_order_page_offers_only_the_allowed_transitions(prepare, buttons, admin_client, pending_order):
    for action in prepare:
        admin_client.post(_action_url(pending_order, action), {})
    page = admin_client.get(_change_url(pending_order)).content.decode()
    offered = {action for action in ("accept", "cancel", "fraud", "pending") if f'class="review-{action}"' in page}
    assert offered == buttons
    assert "shop.example.com" in page and "shop-example.com" in page


def test_accept_form_lists_each_item_with_its_choices_ticked(admin_client, pending_order):
    service, domain = pending_order.services.get(), pending_order.domains.get()
    page = admin_client.get(_action_url(pending_order, "accept")).content.decode()
    for name in (f"svc_{service.pk}_module", f"svc_{service.pk}_welcome", f"dom_{domain.pk}_registrar"):
        assert f'name="{name}"' in page
    assert page.count("checked") >= 3
    # Nothing sends email yet: the box queues the welcome email, and says so.
    assert "Queue welcome email" in page and "Send welcome email" not in page


def test_admin_accepts_an_order_through_the_admin(admin_client, admin_user, pending_order):
    service = pending_order.services.get()
    response = admin_client.post(
        _action_url(pending_order, "accept"), {f"svc_{service.pk}_module": "on", "reason": "verified by phone"}
    )
    assert response.status_code == 302 and response.url == _change_url(pending_order)
    pending_order.refresh_from_db()
    assert pending_order.status == Order.Status.ACTIVE
    change = pending_order.history.last()
    assert (change.actor, change.reason) == (admin_user, "verified by phone")
    messages = _messages(response)
    assert any("accepted" in m for m in messages)
    assert any("no module ran" in m for m in messages)


def test_accept_offers_the_installed_registrars_and_sends_the_domain_to_the_one_chosen(
    admin_client, pending_order, django_capture_on_commit_callbacks
):
    from provisioning.models import ModuleCall
    from tests import registrar_package

    registrar_package.reset()
    domain = pending_order.domains.get()
    page = admin_client.get(_action_url(pending_order, "accept")).content.decode()
    assert f'name="dom_{domain.pk}_registrar_name"' in page
    assert '<option value="manual">' in page and '<option value="scripted_registrar">' in page
    data = {f"dom_{domain.pk}_registrar": "on", f"dom_{domain.pk}_registrar_name": "scripted_registrar"}
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(_action_url(pending_order, "accept"), data)
    assert response.status_code == 302
    domain.refresh_from_db()
    call = ModuleCall.objects.get(domain=domain)
    assert (domain.registrar, call.action, call.status) == ("scripted_registrar", "register", "succeeded")
    assert domain.status == domain.Status.ACTIVE and domain.expiry_date is not None
    assert any(f"queued at the scripted_registrar registrar (call #{call.pk})" in m for m in _messages(response))
    registrar_package.reset()


def test_a_registrar_that_is_not_installed_is_refused_on_the_form_and_nothing_is_accepted(admin_client, pending_order):
    domain = pending_order.domains.get()
    data = {f"dom_{domain.pk}_registrar": "on", f"dom_{domain.pk}_registrar_name": "nope"}
    response = admin_client.post(_action_url(pending_order, "accept"), data)
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    pending_order.refresh_from_db()
    assert pending_order.status == Order.Status.PENDING


@pytest.mark.parametrize(
    ("action", "order_status", "item_status"),
    [
        ("cancel", Order.Status.CANCELLED, Service.Status.CANCELLED),
        ("fraud", Order.Status.FRAUD, Service.Status.FRAUD),
    ],
)
def test_admin_cancels_or_marks_fraud_with_a_confirmation(
    action, order_status, item_status, admin_client, pending_order
):
    confirm = admin_client.get(_action_url(pending_order, action))
    assert confirm.status_code == 200 and "shop.example.com" in confirm.content.decode()
    pending_order.refresh_from_db()
    assert pending_order.status == Order.Status.PENDING  # looking at the confirmation changes nothing
    admin_client.post(_action_url(pending_order, action), {"reason": "card disputed"})
    pending_order.refresh_from_db()
    assert pending_order.status == order_status
    assert pending_order.services.get().status == item_status
    assert pending_order.history.last().reason == "card disputed"


def test_admin_sets_a_cancelled_order_back_to_pending(admin_client, pending_order):
    admin_client.post(_action_url(pending_order, "cancel"), {})
    admin_client.post(_action_url(pending_order, "pending"), {})
    pending_order.refresh_from_db()
    pending_order.invoice.refresh_from_db()
    assert (pending_order.status, pending_order.invoice.status) == ("pending", "unpaid")


def test_a_refused_transition_shows_a_message_and_changes_nothing(admin_client, pending_order):
    response = admin_client.post(_action_url(pending_order, "pending"), {})
    assert any("cannot be set back to pending" in m for m in _messages(response))
    pending_order.refresh_from_db()
    assert pending_order.status == Order.Status.PENDING
    assert pending_order.history.count() == 1


def test_delete_asks_first_listing_what_goes_then_deletes(admin_client, pending_order):
    url = reverse("admin:orders_order_delete", args=[pending_order.pk])
    page = admin_client.get(url).content.decode()
    assert "shop.example.com" in page and "shop-example.com" in page and str(pending_order.invoice) in page
    assert Order.objects.filter(pk=pending_order.pk).exists()
    response = admin_client.post(url, {})
    assert response.url == reverse("admin:orders_order_changelist")
    assert not Order.objects.exists() and not Service.objects.exists() and not Domain.objects.exists()


def test_the_delete_page_says_why_it_cannot_delete_and_offers_no_button(admin_client, admin_user, pending_order):
    order_accept(order=pending_order, actor=admin_user)
    page = admin_client.get(reverse("admin:orders_order_delete", args=[pending_order.pk])).content.decode()
    assert "Cancel the order first" in page
    assert "Yes, delete" not in page


def test_delete_of_a_live_order_is_refused_with_a_message(admin_client, admin_user, pending_order):
    order_accept(order=pending_order, actor=admin_user)
    response = admin_client.post(reverse("admin:orders_order_delete", args=[pending_order.pk]), {})
    assert any("Cancel the order first" in m for m in _messages(response))
    assert Order.objects.filter(pk=pending_order.pk).exists()


def test_bulk_delete_is_not_offered(admin_client, pending_order):
    page = admin_client.get(reverse("admin:orders_order_changelist")).content.decode()
    assert "delete_selected" not in page


def test_staff_without_change_permission_cannot_review(client, pending_order, django_user_model):
    staff = django_user_model.objects.create_user("viewer", password="x-very-long-password", is_staff=True)
    client.force_login(staff)
    assert client.post(_action_url(pending_order, "cancel"), {}).status_code == 403
    pending_order.refresh_from_db()
    assert pending_order.status == Order.Status.PENDING


@pytest.mark.parametrize(
    "url_name",
    [
        "admin:billing_client_changelist",
        "admin:billing_invoice_changelist",
        "admin:provisioning_service_changelist",
        "admin:provisioning_domain_changelist",
        "admin:orders_product_changelist",
        "admin:notifications_activitylog_changelist",
        "admin:notifications_event_changelist",
    ],
)
def test_admin_lists_open(url_name, admin_client, pending_order):
    assert admin_client.get(reverse(url_name)).status_code == 200


def test_accept_with_every_box_unticked_still_accepts(admin_client, pending_order):
    from notifications.models import OutboundEmail

    admin_client.post(_action_url(pending_order, "accept"), {})
    pending_order.refresh_from_db()
    assert pending_order.status == Order.Status.ACTIVE
    assert not OutboundEmail.objects.filter(template="service_welcome").exists()


def test_saving_an_order_page_writes_only_what_the_admin_changed(admin_client, admin_user, pending_order):
    change_url = reverse("admin:orders_order_change", args=[pending_order.pk])
    admin_client.get(change_url)  # the admin opens the page while the order is Pending ...
    order_cancel(order=pending_order, actor=admin_user)  # ... another admin cancels it meanwhile ...
    admin_client.post(change_url, {"notes": "called the client", **_empty_inline("history")})  # ... then saves
    pending_order.refresh_from_db()
    assert (pending_order.status, pending_order.notes) == ("cancelled", "called the client")


def _empty_inline(prefix):
    return {
        f"{prefix}-TOTAL_FORMS": "0",
        f"{prefix}-INITIAL_FORMS": "0",
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }


@pytest.mark.parametrize("url_name", ["admin:provisioning_service_delete", "admin:provisioning_domain_delete"])
def test_services_and_domains_cannot_be_deleted_on_their_own(url_name, admin_client, pending_order):
    item = pending_order.services.get() if "service" in url_name else pending_order.domains.get()
    assert admin_client.post(reverse(url_name, args=[item.pk]), {"post": "yes"}).status_code == 403
    assert type(item).objects.filter(pk=item.pk).exists()

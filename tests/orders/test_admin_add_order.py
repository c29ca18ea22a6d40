"""Add New Order: an admin places an order for a client from the admin, through the storefront's checkout, with the
admin as the actor (issue 18, requirement 8)."""

import datetime
import re
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import TestCase
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from billing.cycles import BillingCycle, period_after
from billing.models import Invoice, InvoiceItem
from fraud.models import SETTINGS_ROW_ID, FraudRule, FraudSettings
from notifications.models import ActivityLog, Event, OutboundEmail
from orders.models import Order, OrderStatusChange, Promotion
from orders.services import CartItem, order_delete
from provisioning.models import Domain, Service
from tests.factories import ClientFactory, CurrencyFactory, OrderFactory, PricingFactory, UserFactory

pytestmark = pytest.mark.django_db

ADD_URL = reverse("admin:orders_order_add")
LINE_FIELDS = {"products": ("product", "billing_cycle", "domain"), "domains": ("product", "name", "action", "years")}


def _form(client_id, products=(), domains=(), *, lines=3, **options) -> dict:
    """The page's POST: `products` as (product id, cycle, domain), `domains` as (product id, name, action, years);
    the rest of `lines` lines left blank, as the browser sends them."""
    data = {"client": client_id, "place": "Place order", "promo_code": options.pop("promo_code", "")}
    data.update({name: "on" for name, ticked in options.items() if ticked})
    for prefix, rows, blank in (
        ("products", products, ("", BillingCycle.MONTHLY, "")),
        ("domains", domains, ("", "", "register", "1")),
    ):
        names = LINE_FIELDS[prefix]
        rows = list(rows) + [blank] * max(0, lines - len(rows))
        data.update({f"{prefix}-TOTAL_FORMS": len(rows), f"{prefix}-INITIAL_FORMS": 0})
        for index, row in enumerate(rows):
            data.update({f"{prefix}-{index}-{name}": value for name, value in zip(names, row, strict=True)})
    return data


def _place(admin_client, data):
    """Post the page as a browser would and run the after-commit work (OrderCreated, the emails) as a commit does."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return admin_client.post(ADD_URL, data)


def _counts():
    return (Order.objects.count(), Invoice.objects.count(), Service.objects.count(), Domain.objects.count())


def _emails(client):
    return sorted(OutboundEmail.objects.filter(client_id=client.pk).values_list("template", flat=True))


@pytest.fixture
def order_lines(customer, hosting, domain_product):
    return _form(
        customer.pk,
        products=[(hosting.pk, BillingCycle.MONTHLY, "shop.example.com")],
        domains=[(domain_product.pk, "desk-example.com", "register", "2")],
    )


# --- Placing an order ---------------------------------------------------------------------------------------------


def test_an_admin_places_an_order_for_a_client_through_checkout(admin_client, admin_user, customer, order_lines):
    response = _place(admin_client, order_lines)
    order = Order.objects.get(client=customer)
    assert response.status_code == 302 and response["Location"] == reverse("admin:orders_order_change", args=[order.pk])
    assert order.status == Order.Status.PENDING and order.ip_address is None
    assert order.invoice.status == Invoice.Status.UNPAID
    assert sorted(order.invoice.items.values_list("kind", "amount")) == [
        (InvoiceItem.Kind.DOMAIN, Decimal("25.98")),
        (InvoiceItem.Kind.SERVICE, Decimal("4.99")),
        (InvoiceItem.Kind.SETUP_FEE, Decimal("2.00")),
    ]
    assert order.total == order.invoice.total == Decimal("32.97")
    service, domain = Service.objects.get(order=order), Domain.objects.get(order=order)
    assert (service.status, service.domain) == ("pending", "shop.example.com")
    assert service.next_due_date == order.invoice.date  # the invoice bills the first period
    assert (domain.name, domain.registration_period, domain.status) == ("desk-example.com", 2, "pending")
    placed = ActivityLog.objects.get(action="order_placed", subject_id=order.pk)
    assert placed.actor == admin_user and placed.actor_label == admin_user.username
    assert "placed by an admin" in placed.message
    history = OrderStatusChange.objects.get(order=order)
    assert (history.actor, history.reason) == (admin_user, "Order placed by an admin for the client")
    assert _emails(customer) == ["invoice_created", "order_confirmation"]
    assert order.fraud_result["checked_by"] == admin_user.username
    assert order.fraud_result["facts"]["placed_by_admin"] is True


def test_the_success_message_and_the_new_orders_page(admin_client, customer, order_lines):
    response = _place(admin_client, order_lines)
    page = admin_client.get(response["Location"]).content.decode()
    order = Order.objects.get(client=customer)
    assert f"{order} placed for {customer}: Pending, {order.invoice} (Unpaid)." in page
    assert "Save and add another" not in page


def test_no_invoice_places_the_order_without_one_and_starts_the_items_after_their_first_period(
    admin_client, customer, order_lines
):
    response = _place(admin_client, {**order_lines, "no_invoice": "on"})
    assert response.status_code == 302
    order = Order.objects.get(client=customer)
    today = timezone.localdate()
    assert order.status == Order.Status.PENDING and order.invoice is None
    assert not Invoice.objects.filter(client=customer).exists()
    assert order.total == Decimal("32.97")  # what checkout priced, before tax
    assert Service.objects.get(order=order).next_due_date == period_after(today, 1)
    assert Domain.objects.get(order=order).next_due_date == period_after(today, 24)
    assert _emails(customer) == ["order_confirmation"]
    assert "; no invoice" in ActivityLog.objects.get(action="order_placed", subject_id=order.pk).message
    created = Event.objects.get(name="OrderCreated", payload__order_id=order.pk)
    assert created.payload["invoice_id"] is None
    assert "no invoice" in admin_client.get(response["Location"]).content.decode()


def test_an_invoice_without_the_order_confirmation_email(admin_client, customer, order_lines):
    _place(admin_client, {**order_lines, "no_order_email": "on"})
    order = Order.objects.get(client=customer)
    assert order.invoice.status == Invoice.Status.UNPAID
    assert _emails(customer) == ["invoice_created"]
    assert "; no order confirmation email" in ActivityLog.objects.get(action="order_placed").message


def test_a_promotion_code_applies_as_on_the_storefront(admin_client, customer, order_lines):
    Promotion.objects.create(code="DESK10", value=Decimal("10"))
    _place(admin_client, {**order_lines, "promo_code": "desk10"})
    order = Order.objects.get(client=customer)
    assert order.promo_code == "desk10"
    assert order.invoice.items.filter(kind=InvoiceItem.Kind.PROMOTION).exists()
    assert Promotion.objects.get(code="DESK10").uses == 1


# --- The fraud check and its setting -----------------------------------------------------------------------------


@pytest.fixture
def free_mail_client(usd):
    """A client whose free-mail address alone scores 60 (the threshold is 50): a check that runs sends its order
    to Fraud, with no IP address needed."""
    FraudRule.objects.filter(code="free_email_domain").update(points=60)
    return ClientFactory(currency=usd, user=UserFactory(username="desk-buyer@gmail.com"))


@pytest.mark.parametrize("check_admin_orders", [True, False])
def test_the_fraud_check_follows_the_setting_for_admin_orders(
    check_admin_orders, admin_client, free_mail_client, hosting
):
    FraudSettings.objects.filter(pk=SETTINGS_ROW_ID).update(fraud_check_admin_orders=check_admin_orders)
    _place(admin_client, _form(free_mail_client.pk, products=[(hosting.pk, "monthly", "f.example.com")]))
    order = Order.objects.get(client=free_mail_client)
    result = order.fraud_result
    if check_admin_orders:
        assert (order.status, result["score"], result["skipped_reason"]) == (Order.Status.FRAUD, 60, "")
        assert [rule["code"] for rule in result["rules"]] == ["free_email_domain"]
    else:
        assert (order.status, result["score"], result["rules"]) == (Order.Status.PENDING, 0, [])
        assert result["skipped_reason"] == (
            "The check was skipped: an admin placed the order, and admin orders are not checked."
        )
    assert result["facts"]["placed_by_admin"] is True


def test_switching_admin_orders_off_leaves_the_storefronts_orders_checked(free_mail_client, hosting):
    FraudSettings.objects.filter(pk=SETTINGS_ROW_ID).update(fraud_check_admin_orders=False)
    order = OrderFactory(client=free_mail_client, product=hosting, domain="s.example.com")
    assert (order.status, order.fraud_result["score"], order.fraud_result["skipped_reason"]) == ("fraud", 60, "")


def test_the_page_says_whether_the_check_runs(admin_client, customer):
    def page():
        return admin_client.get(ADD_URL, {"client": customer.pk}).content.decode()

    assert "it runs on this order" in page()
    FraudSettings.objects.filter(pk=SETTINGS_ROW_ID).update(fraud_check_admin_orders=False)
    assert "skipped for orders placed by an admin" in page()


def test_the_setting_is_on_by_default_and_edited_with_the_other_fraud_settings(admin_client):
    assert FraudSettings.objects.get(pk=SETTINGS_ROW_ID).fraud_check_admin_orders is True
    page = admin_client.get(reverse("admin:fraud_fraudsettings_change", args=[SETTINGS_ROW_ID])).content.decode()
    assert 'name="fraud_check_admin_orders"' in page


# --- Finding the client -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["name", "email", "company", "id"])
def test_the_client_search_finds_by_name_email_company_and_id(field, admin_client, usd):
    wanted = ClientFactory(currency=usd, contact_name="Grace Hopper", company_name="Cobol Works")
    other = ClientFactory(currency=usd, contact_name="Alan Turing", company_name="Bletchley")
    term = {"name": "hopper", "email": wanted.email, "company": "cobol", "id": f"#{wanted.pk}"}[field]
    page = admin_client.get(ADD_URL, {"q": term}).content.decode()
    assert f"?client={wanted.pk}" in page
    assert f'?client={other.pk}"' not in page


def test_the_client_search_shows_at_most_20_matches_in_a_bounded_number_of_queries(admin_client, usd):
    def search():
        with CaptureQueriesContext(connection) as queries:
            page = admin_client.get(ADD_URL, {"q": "Searchable"}).content.decode()
        return len(queries), page.count('class="choose-client"')

    for n in range(3):
        ClientFactory(currency=usd, contact_name=f"Searchable {n}")
    few, shown = search()
    assert shown == 3
    for n in range(3, 30):
        ClientFactory(currency=usd, contact_name=f"Searchable {n}")
    many, shown = search()
    assert (many, shown) == (few, 20)


def test_a_blank_or_unmatched_search_finds_nobody(admin_client, customer):
    assert 'class="choose-client"' not in admin_client.get(ADD_URL, {"q": "   "}).content.decode()
    assert "No client matches" in admin_client.get(ADD_URL, {"q": "nobody-like-this"}).content.decode()


def test_the_clients_page_links_to_add_new_order_with_the_client_chosen(admin_client, customer, hosting):
    page = admin_client.get(reverse("admin:billing_client_change", args=[customer.pk])).content.decode()
    assert f'href="{ADD_URL}?client={customer.pk}"' in page
    chosen = admin_client.get(ADD_URL, {"client": customer.pk}).content.decode()
    assert "Ordering for" in chosen and f'name="client" value="{customer.pk}"' in chosen
    assert f'<option value="{hosting.pk}">' in chosen


def test_the_form_offers_only_what_is_sold_in_the_clients_currency(admin_client, customer, hosting):
    euro_only = PricingFactory(currency=CurrencyFactory(code="EUR")).product
    page = admin_client.get(ADD_URL, {"client": customer.pk}).content.decode()
    # The first product line's choices only (a years <select> has options "2", "3", ... that a pk may equal).
    choices = re.search(r'<select name="products-0-product".*?</select>', page, re.S).group(0)
    assert f'<option value="{hosting.pk}">' in choices and f'<option value="{euro_only.pk}">' not in choices


def test_more_lines_adds_blank_lines_and_places_nothing(admin_client, customer, order_lines):
    before = _counts()
    response = admin_client.post(ADD_URL, {**order_lines, "more_lines": "More lines"})
    page = response.content.decode()
    assert response.status_code == 200 and _counts() == before
    assert 'name="products-TOTAL_FORMS" value="6"' in page and 'name="domains-TOTAL_FORMS" value="6"' in page
    assert 'value="shop.example.com"' in page  # what was typed is kept
    assert '<option value="monthly" selected>' in page.split('name="products-5-billing_cycle"')[1][:600]


# --- Refusals: a clear message, nothing placed --------------------------------------------------------------------


def _refused(admin_client, data, message):
    before, emails = _counts(), OutboundEmail.objects.count()
    response = _place(admin_client, data)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert (_counts(), OutboundEmail.objects.count()) == (before, emails)


def test_no_client_chosen(admin_client, customer, hosting):
    data = _form(customer.pk, products=[(hosting.pk, "monthly", "a.example.com")])
    _refused(admin_client, {**data, "client": ""}, "Find a client")
    _refused(admin_client, {**data, "client": "999999999"}, "No such client")


def test_an_inactive_client(admin_client, customer, hosting):
    customer.deactivate()
    customer.save()
    data = _form(customer.pk, products=[(hosting.pk, "monthly", "a.example.com")])
    _refused(admin_client, data, "only active clients can order")


def test_a_product_not_sold_in_the_clients_currency(admin_client, customer):
    euro_only = PricingFactory(currency=CurrencyFactory(code="EUR")).product
    data = _form(customer.pk, products=[(euro_only.pk, "monthly", "")])
    _refused(admin_client, data, "That product is not sold in the client&#x27;s currency")


def test_a_product_not_sold_on_the_cycle(admin_client, customer, hosting):
    data = _form(customer.pk, products=[(hosting.pk, "quarterly", "a.example.com")])
    _refused(admin_client, data, "Item 1: Starter is not sold quarterly in USD.")


def test_a_bad_promotion_code(admin_client, customer, order_lines):
    said = "Promotion code &#x27;NOSUCHCODE&#x27; is not valid."
    _refused(admin_client, {**order_lines, "promo_code": "NOSUCHCODE"}, said)


def test_a_domain_checkout_refuses(admin_client, customer, domain_product, place, hosting):
    place(customer, CartItem(product_id=domain_product.pk, billing_cycle="annually", domain="taken-example.com"))
    taken = _form(customer.pk, domains=[(domain_product.pk, "taken-example.com", "register", "1")])
    _refused(admin_client, taken, "taken-example.com is already ordered or registered here.")
    invalid = _form(customer.pk, domains=[(domain_product.pk, "-bad-.com", "register", "1")])
    _refused(admin_client, invalid, "is not a valid domain name")
    no_name = _form(customer.pk, domains=[(domain_product.pk, "", "transfer", "1")])
    _refused(admin_client, no_name, "Enter the domain name to register or transfer.")
    needs_one = _form(customer.pk, products=[(hosting.pk, "monthly", "")])
    _refused(admin_client, needs_one, "Item 1: Enter a domain name")
    no_product = _form(customer.pk, products=[("", "monthly", "lost.example.com")])
    _refused(admin_client, no_product, "Choose the product this domain is for.")


def test_an_empty_cart(admin_client, customer):
    _refused(admin_client, _form(customer.pk), "Add at least one product or domain: the order is empty.")


HOSTILE = [
    "",
    " ",
    "a\x00b",
    "-1",
    "9" * 40,
    "1e309",
    "x" * 5000,
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "²",
    "\u202e",
]


def test_hostile_values_in_every_field_never_cause_a_500_nor_place_anything(admin_client, customer, order_lines):
    fields = [name for name in order_lines if name != "place"] + ["more_lines", "no_invoice"]
    before, placed = _counts(), []
    for name in fields:
        for value in HOSTILE:
            response = admin_client.post(ADD_URL, {**order_lines, name: value})
            assert response.status_code in (200, 302), (name, value)
            if response.status_code == 302:  # a value the page takes (an option ticked, a blank promo code)
                placed.append((name, value))
                order_delete(order=Order.objects.get(client=customer), actor=None)
    for value in HOSTILE:  # the page's address: the search and the chosen client
        assert admin_client.get(ADD_URL, {"q": value}).status_code == 200, value
        assert admin_client.get(ADD_URL, {"client": value, "q": "Client"}).status_code == 200, value
    # Lists where one value is expected, and both formset counts broken at once.
    assert admin_client.post(ADD_URL, {**order_lines, "client": [customer.pk, "x"]}).status_code == 200
    broken = {**order_lines, "products-TOTAL_FORMS": "100000", "domains-TOTAL_FORMS": "-3"}
    assert admin_client.post(ADD_URL, broken).status_code == 200
    assert admin_client.post(ADD_URL, {**broken, "more_lines": "1"}).status_code == 200
    assert _counts() == before
    # Only what is harmless went through: a ticked box, a blank field, line counts the formsets clamp.
    for name, value in placed:
        assert name == "no_invoice" or not value.strip() or name.endswith("_FORMS"), (name, value)


# --- Permissions -------------------------------------------------------------------------------------------------


@pytest.fixture
def staff(db):
    user = UserFactory(username="desk-staff", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(codename__in=["view_order", "change_order", "view_client", "change_client"])
    )
    return user


def test_without_the_permission_the_page_is_403_and_no_button_shows(client, staff, customer, order_lines):
    client.force_login(staff)
    assert client.get(ADD_URL).status_code == 403
    assert client.get(ADD_URL, {"client": customer.pk}).status_code == 403
    before = _counts()
    assert client.post(ADD_URL, order_lines).status_code == 403
    assert _counts() == before
    changelist = client.get(reverse("admin:orders_order_changelist")).content.decode()
    client_page = client.get(reverse("admin:billing_client_change", args=[customer.pk])).content.decode()
    assert "Add New Order" not in changelist and "Add New Order" not in client_page


def test_with_the_permission_the_admin_places_orders(client, staff, customer, order_lines):
    staff.user_permissions.add(Permission.objects.get(codename="add_order"))
    client.force_login(staff)
    assert "Add New Order" in client.get(reverse("admin:orders_order_changelist")).content.decode()
    assert "Add New Order" in client.get(reverse("admin:billing_client_change", args=[customer.pk])).content.decode()
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert client.post(ADD_URL, order_lines).status_code == 302
    assert ActivityLog.objects.get(action="order_placed").actor == staff


def test_the_fraud_result_of_a_recheck_by_an_admin_is_scored_even_when_admin_orders_are_skipped(
    admin_client, free_mail_client, hosting
):
    FraudSettings.objects.filter(pk=SETTINGS_ROW_ID).update(fraud_check_admin_orders=False)
    _place(admin_client, _form(free_mail_client.pk, products=[(hosting.pk, "monthly", "r.example.com")]))
    order = Order.objects.get(client=free_mail_client)
    admin_client.post(reverse("admin:orders_order_fraud_recheck", args=[order.pk]))
    order.refresh_from_db()
    assert (order.status, order.fraud_result["score"], order.fraud_result["recheck"]) == ("pending", 60, True)


def test_the_order_is_dated_today(admin_client, customer, order_lines):
    _place(admin_client, order_lines)
    assert Order.objects.get(client=customer).invoice.date == timezone.localdate()
    assert timezone.localdate() - Service.objects.get().registration_date == datetime.timedelta(0)

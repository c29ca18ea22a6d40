from decimal import Decimal

import pytest
from django.core import mail
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from billing.models import Invoice, TaxRule, Transaction
from billing.services import credit_add
from notifications.models import Event
from orders.models import Order
from tests.factories import InvoiceFactory


@pytest.fixture
def logged_in(client, customer):
    client.force_login(customer.user)
    return client


def _order_through_the_store(client, product, *, cycle="monthly", domain="site.example.com"):
    response = client.post(
        reverse("clientarea:store_product", args=[product.pk]), {"billing_cycle": cycle, "domain": domain}
    )
    assert response.status_code == 302 and response.url == reverse("clientarea:cart")
    return client.post(reverse("clientarea:checkout"), {"accept_terms": "on", "promo_code": ""})


def test_a_client_orders_from_the_store_and_lands_on_the_invoice(
    logged_in, customer, hosting, django_capture_on_commit_callbacks
):
    store = logged_in.get(reverse("clientarea:store")).content.decode()
    assert hosting.name in store
    with django_capture_on_commit_callbacks(execute=True):
        response = _order_through_the_store(logged_in, hosting)
    order = Order.objects.get(client=customer)
    assert response.status_code == 302
    assert response.url == reverse("clientarea:invoice_detail", args=[order.invoice_id])
    assert order.status == Order.Status.PENDING and order.invoice.total == Decimal("6.99")
    page = logged_in.get(response.url).content.decode()
    assert "Pay with Test card (sandbox)" in page and "$6.99" in page
    assert logged_in.session["cart"] == []


def test_a_store_order_is_taxed_by_the_clients_country(logged_in, customer, hosting):
    TaxRule.objects.create(level=1, name="VAT", country="DE", rate=Decimal("19"))
    _order_through_the_store(logged_in, hosting)
    invoice = Order.objects.get(client=customer).invoice
    assert (invoice.subtotal, invoice.tax_1, invoice.total) == (Decimal("6.99"), Decimal("1.33"), Decimal("8.32"))
    assert "VAT 19%" in logged_in.get(reverse("clientarea:invoice_detail", args=[invoice.pk])).content.decode()


def test_checkout_refuses_without_the_terms_and_keeps_the_cart(logged_in, customer, hosting):
    logged_in.post(
        reverse("clientarea:store_product", args=[hosting.pk]), {"billing_cycle": "monthly", "domain": "a.example"}
    )
    response = logged_in.post(reverse("clientarea:checkout"), {}, follow=True)
    assert "accept the terms" in response.content.decode()
    assert not Order.objects.exists() and len(logged_in.session["cart"]) == 1


def test_a_bad_domain_is_refused_on_the_product_page(logged_in, hosting):
    response = logged_in.post(
        reverse("clientarea:store_product", args=[hosting.pk]), {"billing_cycle": "monthly", "domain": ""}
    )
    assert response.status_code == 200 and "required" in response.content.decode()
    assert "cart" not in logged_in.session


def test_paying_with_the_sandbox_marks_the_invoice_paid_through_a_stored_event(
    logged_in, pending_order, django_capture_on_commit_callbacks
):
    invoice = pending_order.invoice
    page = logged_in.post(reverse("clientarea:invoice_pay", args=[invoice.pk, "sandbox"]))
    assert page.status_code == 200 and "Approve payment" in page.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = logged_in.post(reverse("clientarea:sandbox_charge", args=[invoice.pk]), {"outcome": "approve"})
    assert response.status_code == 302
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID and invoice.balance_due == 0
    payment = Transaction.objects.get(invoice=invoice)
    assert payment.gateway == "sandbox" and payment.amount_in == invoice.total
    assert Event.objects.filter(name="InvoicePaid").count() == 1
    page = logged_in.get(reverse("clientarea:invoice_detail", args=[invoice.pk])).content.decode()
    assert "Paid" in page and "Pay with" not in page


def test_a_declined_sandbox_card_changes_nothing(logged_in, pending_order, django_capture_on_commit_callbacks):
    invoice = pending_order.invoice
    with django_capture_on_commit_callbacks(execute=True):
        response = logged_in.post(
            reverse("clientarea:sandbox_charge", args=[invoice.pk]), {"outcome": "decline"}, follow=True
        )
    assert "declined" in response.content.decode()
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.UNPAID and not Transaction.objects.exists()


def test_paying_a_paid_invoice_is_refused(logged_in, pending_order, django_capture_on_commit_callbacks):
    invoice = pending_order.invoice
    with django_capture_on_commit_callbacks(execute=True):
        logged_in.post(reverse("clientarea:sandbox_charge", args=[invoice.pk]), {"outcome": "approve"})
    with django_capture_on_commit_callbacks(execute=True):
        response = logged_in.post(
            reverse("clientarea:sandbox_charge", args=[invoice.pk]), {"outcome": "approve"}, follow=True
        )
    assert "cannot pay this invoice" in response.content.decode()
    assert Transaction.objects.filter(invoice=invoice).count() == 1


def test_a_client_applies_credit_to_an_invoice(logged_in, customer, pending_order, django_capture_on_commit_callbacks):
    credit_add(client_id=customer.pk, amount=Decimal("5.00"), reason="goodwill", actor=None)
    invoice = pending_order.invoice
    url = reverse("clientarea:invoice_apply_credit", args=[invoice.pk])
    response = logged_in.post(url, {"amount": "5.001"}, follow=True)
    assert "decimal places" in response.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        logged_in.post(url, {"amount": "2.50"})
    invoice.refresh_from_db()
    customer.refresh_from_db()
    assert invoice.credit_applied == Decimal("2.50") and customer.credit_balance == Decimal("2.50")
    assert invoice.balance_due == invoice.subtotal - Decimal("2.50")
    response = logged_in.post(url, {"amount": "99"}, follow=True)
    assert "less than" in response.content.decode()
    customer.refresh_from_db()
    assert customer.credit_balance == Decimal("2.50")


def test_the_client_downloads_the_invoice_pdf(logged_in, pending_order):
    response = logged_in.get(reverse("clientarea:invoice_pdf", args=[pending_order.invoice_id]))
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")
    assert pending_order.invoice.number in response["Content-Disposition"]


def test_the_invoice_list_filters_by_status_and_pages(logged_in, customer):
    InvoiceFactory.create_batch(30, client=customer, amounts=("1.00",))
    first = Invoice.objects.filter(client=customer).order_by("id").first()
    from billing.services import invoice_cancel

    invoice_cancel(invoice_id=first.pk, actor=None)
    page = logged_in.get(reverse("clientarea:invoice_list")).content.decode()
    assert "<span>Page 1</span>" in page and 'href="?page=2">Older →</a>' in page
    cancelled = logged_in.get(reverse("clientarea:invoice_list") + "?status=cancelled").content.decode()
    assert first.number in cancelled and cancelled.count("status status-cancelled") == 1


@pytest.mark.parametrize("url_name", ["clientarea:invoice_list", "clientarea:order_list", "clientarea:service_list"])
def test_client_area_lists_do_not_query_per_row(logged_in, customer, hosting, url_name, place):
    from billing.cycles import BillingCycle
    from orders.services import CartItem

    def queries_with(count):
        for n in range(count):
            place(customer, CartItem(product_id=hosting.pk, billing_cycle=BillingCycle.MONTHLY, domain=f"q{n}.example"))
        with CaptureQueriesContext(connection) as queries:
            assert logged_in.get(reverse(url_name)).status_code == 200
        return len(queries)

    assert queries_with(2) == queries_with(18)


def test_the_profile_changes_contact_details_and_refuses_bad_ones(logged_in, customer):
    url = reverse("clientarea:profile")
    response = logged_in.post(url, {"contact_name": "New Name", "country": "fr", "city": "Lyon"})
    assert response.status_code == 302
    customer.refresh_from_db()
    assert (customer.contact_name, customer.country, customer.city) == ("New Name", "FR", "Lyon")
    response = logged_in.post(url, {"contact_name": "New Name", "country": "12"})
    assert response.status_code == 200 and "ISO 3166" in response.content.decode()
    customer.refresh_from_db()
    assert customer.country == "FR"


@pytest.mark.parametrize("city", ["Ly\x1bon", "Lyon\nParis", "Ly\ton", "\x7f", "Ly\x9bon"])
def test_the_profile_refuses_control_characters_and_changes_nothing(logged_in, customer, city):
    before = customer.city

    response = logged_in.post(
        reverse("clientarea:profile"), {"contact_name": "New Name", "country": "FR", "city": city}
    )

    assert response.status_code == 200 and "holds control characters" in response.content.decode()
    customer.refresh_from_db()
    assert (customer.contact_name, customer.city) != ("New Name", city) and customer.city == before


def test_the_dashboard_shows_the_unpaid_total(logged_in, pending_order):
    page = logged_in.get(reverse("clientarea:dashboard")).content.decode()
    assert f"${pending_order.invoice.balance_due}" in page


def test_password_reset_sends_a_link_and_the_new_password_must_pass_the_validators(client, customer):
    client.post(reverse("password_reset"), {"email": customer.email})
    assert len(mail.outbox) == 1
    link = next(line for line in mail.outbox[0].body.splitlines() if "/password/reset/" in line)
    path = link.split("testserver", 1)[1]
    form_page = client.get(path, follow=True)
    set_url = form_page.redirect_chain[-1][0]
    weak = client.post(set_url, {"new_password1": "123", "new_password2": "123"})
    assert "too short" in weak.content.decode()
    strong = client.post(set_url, {"new_password1": "Ample-Orbit-77", "new_password2": "Ample-Orbit-77"})
    assert strong.status_code == 302
    assert client.login(username=customer.user.username, password="Ample-Orbit-77")


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("1e1000000", "larger than the books can hold"),
        ("-1e1000000", "larger than the books can hold"),
        ("1e-1000000", "more than 2 decimal places"),
        ("NaN", "Enter a number"),
        ("sNaN", "Enter a number"),
        ("-Infinity", "Enter a number"),
        ("²", "Enter a number"),
        ("abc", "Enter a number"),
        ("1" * 5000, "at most 40 characters"),
    ],
)
def test_an_amount_of_credit_no_book_can_hold_is_refused_and_changes_nothing(customer, pending_order, amount, message):
    credit_add(client_id=customer.pk, amount=Decimal("5.00"), reason="goodwill", actor=None)
    browser = Client(raise_request_exception=False)
    browser.force_login(customer.user)
    url = reverse("clientarea:invoice_apply_credit", args=[pending_order.invoice_id])

    response = browser.post(url, {"amount": amount}, follow=True)

    assert response.status_code == 200
    assert message in response.content.decode()
    customer.refresh_from_db()
    pending_order.invoice.refresh_from_db()
    assert (customer.credit_balance, pending_order.invoice.credit_applied) == (Decimal("5.00"), Decimal("0.00"))
    assert Transaction.objects.filter(kind=Transaction.Kind.CREDIT_APPLIED).count() == 0


def test_the_bank_transfer_page_says_the_payment_is_recorded_by_hand_not_automatically(logged_in, pending_order):
    page = logged_in.post(reverse("clientarea:invoice_pay", args=[pending_order.invoice_id, "banktransfer"]))
    text = page.content.decode()
    assert page.status_code == 200 and "recorded it by hand" in text
    assert "as soon as the money arrives" not in text  # nothing watches the bank account

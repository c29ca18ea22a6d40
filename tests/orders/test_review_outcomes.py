"""The review services return what they did as data (ReviewLine: an item and a typed result); the admin words
it with orders.wording, in the same words as before. The review buttons come from orders.selectors."""

import pytest
from django.urls import reverse

from orders.selectors import order_review_actions
from orders.services import InvoiceMove, ReviewLine, order_accept, order_cancel, order_set_pending
from orders.wording import review_line_words
from provisioning.outcomes import DomainActivated, ItemMove, ServiceActivated, Setup, WelcomeEmail

pytestmark = pytest.mark.django_db


def test_accept_returns_typed_lines_worded_as_before(pending_order, admin_user):
    service, domain = pending_order.services.get(), pending_order.domains.get()
    lines = order_accept(order=pending_order, actor=admin_user)
    assert lines == [
        ReviewLine(service, ServiceActivated(setup=Setup.NO_MODULE, welcome_email=WelcomeEmail.QUEUED)),
        ReviewLine(domain, DomainActivated(sent_to_registrar=True, status="pending_registration", expiry_date=None)),
    ]
    assert [review_line_words(line) for line in lines] == [
        f"{service}: activated: its product has no provisioning module, so no module ran; welcome email queued",
        "Domain shop-example.com: Pending Registration: no registrar is chosen for it, so it waits for an admin to "
        "register it",
    ]


def test_cancel_and_set_pending_return_typed_lines_worded_as_before(pending_order, admin_user):
    order_accept(order=pending_order, actor=admin_user)
    service, invoice = pending_order.services.get(), pending_order.invoice
    cancelled = order_cancel(order=pending_order, actor=admin_user)
    assert [line.result for line in cancelled] == [ItemMove.TERMINATED, ItemMove.CANCELLED, InvoiceMove.CANCELLED]
    assert [review_line_words(line) for line in cancelled] == [
        f"{service}: terminated",
        "Domain shop-example.com: cancelled",
        f"{invoice}: cancelled",
    ]
    reopened = order_set_pending(order=pending_order, actor=admin_user)
    assert [review_line_words(line) for line in reopened] == [
        f"{service}: pending",
        "Domain shop-example.com: pending",
        f"{invoice}: unpaid",
    ]


def test_the_review_buttons_are_what_the_selector_offers(pending_order, admin_user, admin_client):
    assert order_review_actions(order=pending_order) == ["accept", "cancel", "mark_fraud"]
    page = admin_client.get(reverse("admin:orders_order_change", args=[pending_order.pk])).content.decode()
    assert "Accept order" in page and "Mark as fraud" in page and "Set back to pending" not in page
    order_cancel(order=pending_order, actor=admin_user)
    pending_order.refresh_from_db()
    assert order_review_actions(order=pending_order) == ["set_pending"]
    page = admin_client.get(reverse("admin:orders_order_change", args=[pending_order.pk])).content.decode()
    assert "Set back to pending" in page and "Accept order" not in page


def test_the_admin_says_each_line(pending_order, admin_client):
    response = admin_client.post(
        reverse("admin:orders_order_transition", args=[pending_order.pk, "cancel"]), {"reason": ""}, follow=True
    )
    page = response.content.decode()
    assert "Domain shop-example.com: cancelled" in page and f"{pending_order.invoice}: cancelled" in page

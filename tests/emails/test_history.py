"""The email history: a client sees the emails they received, paginated, and each one's message; another
client's email is a 404; the admin sees a client's emails on the client's page in a bounded number of queries."""

import pytest
from django.urls import reverse
from django.utils import timezone

from notifications.models import OutboundEmail
from tests.factories import ClientFactory

pytestmark = pytest.mark.django_db


def _sent(client, n, **fields):
    return OutboundEmail.objects.create(
        template="service_welcome",
        to_address=client.email,
        idempotency_key=f"history:{client.pk}:{n}",
        client_id=client.pk,
        status=fields.pop("status", OutboundEmail.Status.SENT),
        sent_at=timezone.now(),
        subject=f"Welcome {n}",
        body_text=f"Hello number {n}",
        body_html=f"<p>Hello <b>number {n}</b></p>",
        **fields,
    )


def test_a_client_sees_their_sent_emails_newest_first_paginated_and_opens_one(client, customer):
    emails = [_sent(customer, n) for n in range(30)]
    _sent(customer, 99, status=OutboundEmail.Status.FAILED)  # never reached them: not in their history
    client.force_login(customer.user)
    first = client.get(reverse("clientarea:email_list")).content.decode()
    assert "Welcome 29" in first and "Welcome 5<" in first and "Welcome 4<" not in first and "Welcome 99" not in first
    assert "Welcome 4<" in client.get(reverse("clientarea:email_list") + "?page=2").content.decode()
    page = client.get(reverse("clientarea:email_detail", args=[emails[3].pk])).content.decode()
    assert "Welcome 3" in page and "Hello number 3" in page
    html = client.get(reverse("clientarea:email_html", args=[emails[3].pk]))
    assert b"<b>number 3</b>" in html.content
    policy = html["Content-Security-Policy"]
    assert policy.startswith("sandbox;") and "default-src 'none'" in policy and "script-src" not in policy


def test_another_clients_email_is_a_404(client, customer):
    other = ClientFactory(currency=customer.currency)
    theirs = _sent(other, 1)
    client.force_login(customer.user)
    for name in ("clientarea:email_detail", "clientarea:email_html"):
        assert client.get(reverse(name, args=[theirs.pk])).status_code == 404
    failed = _sent(customer, 2, status=OutboundEmail.Status.FAILED)
    assert client.get(reverse("clientarea:email_detail", args=[failed.pk])).status_code == 404


def test_the_email_list_takes_a_bounded_number_of_queries(client, customer, django_assert_max_num_queries):
    for n in range(40):
        _sent(customer, n)
    client.force_login(customer.user)
    with django_assert_max_num_queries(6):  # session, user, client, count, page
        assert client.get(reverse("clientarea:email_list")).status_code == 200


def test_the_admins_client_page_lists_the_clients_emails_without_a_query_per_email(
    admin_client, customer, django_assert_max_num_queries
):
    for n in range(25):
        _sent(customer, n)
    url = reverse("admin:billing_client_change", args=[customer.pk])
    admin_client.get(url)
    with django_assert_max_num_queries(40) as counted:
        page = admin_client.get(url).content.decode()
    assert "Welcome 24" in page and "Welcome 4<" not in page and "All emails of this client" in page
    queries_with_25 = len(counted.captured_queries)
    for n in range(25, 60):
        _sent(customer, n)
    with django_assert_max_num_queries(queries_with_25):
        admin_client.get(url)


def test_the_html_part_is_served_sandboxed_under_a_policy_stricter_than_the_client_areas(client, customer):
    email = _sent(customer, 1)
    client.force_login(customer.user)
    response = client.get(reverse("clientarea:email_html", args=[email.pk]))
    assert response.status_code == 200
    directives = [d.strip() for d in response["Content-Security-Policy"].split(";")]
    assert directives[0] == "sandbox"  # no allow-scripts, no allow-same-origin: an opaque origin running nothing
    assert "default-src 'none'" in directives and "frame-ancestors 'none'" in directives

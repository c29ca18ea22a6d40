"""Every page carries a Content-Security-Policy (a strict one in the client area, the admin's own in the admin),
and everything a logged-in user gets, PDFs included, is `Cache-Control: private, no-store`. The pages are found
by walking the URLconf and the admin's registry, so a new page is checked without anyone listing it; each HTML
page is also read for the inline code the policy would block."""

from html.parser import HTMLParser

import pytest
from django.contrib import admin
from django.http import HttpResponse
from django.test import RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from config.security_headers import SecurityHeadersMiddleware
from notifications.models import OutboundEmail

pytestmark = pytest.mark.django_db

CLIENT_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; form-action 'self' https://checkout.stripe.com; frame-ancestors 'none'"
)
ADMIN_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# The client's HTML email page (billing.email_views): sandboxed, nothing loads, nothing runs.
EMAIL_HTML_POLICY = (
    "sandbox; default-src 'none'; img-src data:; object-src 'none'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
PRIVATE = "private, no-store"
# Pages whose inline code the admin policy blocks, on purpose: none (django-celery-beat's periodic task form runs
# its crontab script from a static copy, templates/admin/djcelery/change_periodictask_form.html).
KNOWN_BLOCKED: dict[str, list[str]] = {}
# <script type=...> that browsers never run, so script-src does not apply to them (Django's json_script).
DATA_SCRIPT_TYPES = {"application/json"}


class InlineCode(HTMLParser):
    """What a page carries inline that a policy without 'unsafe-inline' blocks."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "style":
            self.found.append("<style> element")
        if tag == "script" and "src" not in attributes and attributes.get("type") not in DATA_SCRIPT_TYPES:
            self.found.append(f"inline <script id={attributes.get('id')!r}>")
        for name, value in attrs:
            if name == "style" or name.startswith("on"):
                self.found.append(f"{name}= on <{tag}>")
            if name in ("href", "src", "action") and (value or "").strip().lower().startswith("javascript:"):
                self.found.append(f"javascript: URL on <{tag}>")


def inline_code(response) -> list[str]:
    if not response["Content-Type"].startswith("text/html"):
        return []
    parser = InlineCode()
    parser.feed(response.content.decode())
    return parser.found


def _clientarea_urls(kwargs_by_name: dict[str, object]) -> list[str]:
    urls = []

    def walk(patterns, namespace):
        for entry in patterns:
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, entry.namespace or namespace)
            elif isinstance(entry, URLPattern) and namespace == "clientarea":
                kwargs = {name: kwargs_by_name[name] for name in entry.pattern.converters}
                urls.append(reverse(f"clientarea:{entry.name}", kwargs=kwargs))

    walk(get_resolver().url_patterns, None)
    return urls


@pytest.fixture
def own_objects(pending_order, hosting, customer):
    return {
        "invoice_id": pending_order.invoice_id,
        "service_id": pending_order.services.first().pk,
        "domain_id": pending_order.domains.first().pk,
        "change": "save_lock",
        "product_id": hosting.pk,
        "index": 0,
        "gateway_code": "sandbox",
        "email_id": OutboundEmail.objects.create(
            template="service_welcome",
            to_address=customer.email,
            idempotency_key="headers:1",
            client_id=customer.pk,
            status=OutboundEmail.Status.SENT,
            subject="Welcome",
            body_html="<p>Welcome</p>",
        ).pk,
    }


def test_every_client_area_page_has_the_strict_policy_and_is_never_stored(client, customer, own_objects):
    client.force_login(customer.user)
    urls = _clientarea_urls(own_objects)
    assert len(urls) >= 15
    for url in urls:
        response = client.get(url)  # POST-only URLs answer 405: a logged-in answer all the same
        assert response.status_code in (200, 405), url
        # The HTML part of an email is sandboxed, under a policy stricter than the client area's.
        expected = EMAIL_HTML_POLICY if url.endswith("/html/") else CLIENT_POLICY
        assert response["Content-Security-Policy"] == expected, url
        assert response["Cache-Control"] == PRIVATE, url
        assert inline_code(response) == [], url


def test_the_invoice_pdf_is_never_stored(client, customer, own_objects):
    client.force_login(customer.user)
    response = client.get(reverse("clientarea:invoice_pdf", args=[own_objects["invoice_id"]]))
    assert response["Content-Type"] == "application/pdf"
    assert response["Cache-Control"] == PRIVATE


def test_every_admin_changelist_and_change_page_has_the_admin_policy_and_is_never_stored(
    admin_client, admin_user, pending_order
):
    superuser_request = RequestFactory().get("/admin/")
    superuser_request.user = admin_user
    checked = 0
    for model, model_admin in admin.site._registry.items():
        opts = model._meta
        prefix = f"{opts.app_label}_{opts.model_name}"
        pages = [(f"{prefix}_changelist", reverse(f"admin:{prefix}_changelist"))]
        first = model_admin.get_queryset(superuser_request).first()
        if first is not None:
            pages.append((f"{prefix}_change", reverse(f"admin:{prefix}_change", args=[first.pk])))
        for name, url in pages:
            response = admin_client.get(url, follow=True)  # a one-row settings changelist redirects to its row
            assert response.status_code == 200, url
            assert response["Content-Security-Policy"] == ADMIN_POLICY, url
            assert response["Cache-Control"] == PRIVATE, url
            assert inline_code(response) == KNOWN_BLOCKED.get(name, []), url
            checked += 1
    assert checked >= 30


def test_the_admin_order_review_pages_and_invoice_pdf(admin_client, pending_order):
    reviews = [reverse("admin:orders_order_accept", args=[pending_order.pk])] + [
        reverse("admin:orders_order_transition", args=[pending_order.pk, action]) for action in ("cancel", "fraud")
    ]
    for url in [*reviews, reverse("admin:orders_order_fraud_recheck", args=[pending_order.pk])]:
        response = admin_client.get(url)
        assert response.status_code == 200, url
        assert response["Content-Security-Policy"] == ADMIN_POLICY, url
        assert response["Cache-Control"] == PRIVATE, url
        assert inline_code(response) == [], url
    pdf = admin_client.get(reverse("admin:billing_invoice_pdf", args=[pending_order.invoice_id]))
    assert pdf["Content-Type"] == "application/pdf"
    assert pdf["Content-Security-Policy"] == ADMIN_POLICY
    assert pdf["Cache-Control"] == PRIVATE


def test_the_add_new_order_page_searching_and_with_a_client_chosen(admin_client, customer):
    for query in ({}, {"q": customer.contact_name}, {"client": customer.pk}):
        response = admin_client.get(reverse("admin:orders_order_add"), query)
        assert response.status_code == 200, query
        assert response["Content-Security-Policy"] == ADMIN_POLICY, query
        assert response["Cache-Control"] == PRIVATE, query
        assert inline_code(response) == [], query


def test_public_pages_have_the_policy_and_stay_cacheable_as_before(client):
    login = client.get(reverse("login"))
    assert login["Content-Security-Policy"] == CLIENT_POLICY
    assert login["Cache-Control"] == "max-age=0, no-cache, no-store, must-revalidate, private"  # Django's own
    assert inline_code(login) == []
    reset = client.get(reverse("password_reset"))
    assert reset["Content-Security-Policy"] == CLIENT_POLICY
    assert "Cache-Control" not in reset
    assert inline_code(reset) == []
    admin_login = client.get(reverse("admin:login"))
    assert admin_login["Content-Security-Policy"] == ADMIN_POLICY
    assert inline_code(admin_login) == []


def test_paying_with_stripe_may_leave_the_client_area_but_the_admin_sends_forms_only_here(client, admin_client):
    # Stripe Checkout is a POST to us answered by a redirect to Stripe, which Chromium checks against form-action.
    client_page = client.get(reverse("login"))["Content-Security-Policy"]
    admin_page = admin_client.get(reverse("admin:index"))["Content-Security-Policy"]
    assert "form-action 'self' https://checkout.stripe.com;" in client_page
    assert "form-action 'self';" in admin_page


def test_a_pdf_is_never_stored_even_without_a_login():
    middleware = SecurityHeadersMiddleware(lambda request: HttpResponse(b"%PDF-", content_type="application/pdf"))
    response = middleware(RequestFactory().get("/somewhere.pdf"))
    assert response["Cache-Control"] == PRIVATE


def test_django_debug_pages_keep_their_inline_styles_only_with_debug_on(client, settings):
    assert client.get("/no-such-page/")["Content-Security-Policy"] == CLIENT_POLICY
    settings.DEBUG = True
    assert "Content-Security-Policy" not in client.get("/no-such-page/")


def test_the_periodic_task_form_runs_its_crontab_script_from_a_static_file(admin_client):
    from django.contrib.staticfiles import finders
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    every = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.MINUTES)
    task = PeriodicTask.objects.create(name="csp check", task="automation.tasks.run", interval=every)
    for url in (
        reverse("admin:django_celery_beat_periodictask_add"),
        reverse("admin:django_celery_beat_periodictask_change", args=[task.pk]),
    ):
        response = admin_client.get(url)
        assert response.status_code == 200, url
        assert response["Content-Security-Policy"] == ADMIN_POLICY
        assert inline_code(response) == [], url
        page = response.content.decode()
        assert 'id="periodic-task-overrides" src="/static/portal/admin/periodic_task_overrides.js"' in page
        assert 'id="readable-crontabs" type="application/json"' in page
    assert finders.find("portal/admin/periodic_task_overrides.js")

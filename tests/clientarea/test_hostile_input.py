"""No hostile input is a 500, and refused input changes nothing.

The walk finds its URLs in the URLconf (every pattern but /admin/, which Django's admin owns: the client area,
the log-in and password pages, the webhooks), so a new URL is walked without editing this file. Logged in as a client
with an unpaid invoice, credit, a live service and a cart, it
- requests every URL with hostile values in each path parameter and in the usual query parameters;
- opens every page, reads its POST forms from the HTML (and the forms of the pages those forms answer with), and
  posts each form with one field at a time set to a hostile value of its kind, left out, or given twice.
Every request must answer below 500. A value that field must refuse (a NUL in a text, 1e1000000 as an amount,
a choice that is not offered) must leave the database and the session's cart as they were. Each post runs in
a savepoint rolled back afterwards, so every post starts from the same state.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from decimal import Decimal
from html.parser import HTMLParser
from urllib.parse import quote, urlsplit

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.db import connection, transaction
from django.test import Client as HttpClient
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from billing.models import Client
from billing.services import credit_add
from core import crypto
from core.inputs import ID_MAX
from notifications.models import OutboundEmail
from provisioning.services import cancellation_request
from tests.factories import DomainFactory, ServiceFactory

pytestmark = pytest.mark.django_db

OUR_APPS = ("billing", "orders", "provisioning", "notifications", "fraud")
HUGE = "x" * 100_000  # far over any field's length, well under DATA_UPLOAD_MAX_MEMORY_SIZE

# Path parameters: ids beyond any database, signs, exponents, digits int() refuses, NUL, length.
PATH_VALUES = [str(ID_MAX + 1), "9" * 30, "0", "-1", "1e1000000", "NaN", "²", "\u0661\u0662", "\x00", "a\x1bb"]
PATH_VALUES += ["9" * 5000]
QUERY_NAMES = ("page", "status", "paid", "next", "q", "p", "o")
QUERY_VALUES = [*PATH_VALUES, "", "-9223372036854775809", "1.5", "Infinity", HUGE]

# Values a field of each kind must refuse, with nothing changed.
TEXT_REFUSED = ["\x00", "a\x00b", "\x1b[2J", "bell\x07", "a\x7fb", "a\x85b", "a\u009bb", HUGE]
SINGLE_LINE_REFUSED = ["a\nb", "a\rb", "a\tb"]  # fine in a textarea, not in an input
NUMBER_REFUSED = [
    "1e1000000",
    "-1e1000000",
    "1e-1000000",
    "9" * 400,
    "NaN",
    "sNaN",
    "Infinity",
    "-Infinity",
    "-1",
    "0",
    "²",
    "abc",
    "1" * 100_000,
    "\x00",
]
CHOICE_REFUSED = ["\x00", HUGE, str(ID_MAX + 1), "not-one-of-the-choices"]
# Sent to every field, whatever its kind: only "no 500" is asserted (some are fine input somewhere).
ANY_VALUE = sorted(
    {*TEXT_REFUSED, *SINGLE_LINE_REFUSED, *NUMBER_REFUSED, *CHOICE_REFUSED}
    | {"", " ", "\u0661", "1.5", "true", "<b>x</b>"}
)
MISSING, TWICE = object(), object()

POSTED_BY_OTHERS = {"billing:gateway_webhook"}  # a gateway posts there, not a form of ours
# Routes whose form shows only on another item's page: the service with an open cancellation request, the domain
# whose transfer in waits (its EPP code form).
ON_THE_ASKED_ITEMS = {"clientarea:service_cancel_withdraw", "clientarea:domain_epp_code"}

# A valid value for a field the page leaves empty, so the other fields are checked past "this is required".
VALID_SAMPLES = {"domain": "walk.example.com"}


# --- the URLconf -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    name: str
    route: str  # the whole route, "invoices/<id:invoice_id>/"
    parameters: tuple[str, ...]


def _routes() -> list[Route]:
    """Every URL pattern but the admin's: the client area, the log-in and password pages, the webhooks."""
    found = []

    def walk(patterns, prefix: str, namespace: str | None):
        for entry in patterns:
            route = prefix + str(entry.pattern)
            if route.startswith("admin/"):
                continue  # Django's admin: not a client's page
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, route, entry.namespace or namespace)
            elif isinstance(entry, URLPattern):
                name = f"{namespace}:{entry.name}" if namespace else entry.name
                found.append(Route(name, route, tuple(re.findall(r"<(?:\w+:)?(\w+)>", route))))

    walk(get_resolver().url_patterns, "", None)
    return found


def _url(route: Route, values: dict[str, str]) -> str:
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda match: quote(values[match.group(1)], safe=""), route.route)


# --- forms read from the HTML ----------------------------------------------------------------------------------


@dataclass
class FormField:
    name: str
    kind: str  # text, textarea, number, choice, flag
    default: str
    choices: list[str] = field(default_factory=list)


@dataclass
class Form:
    action: str
    fields: dict[str, FormField] = field(default_factory=dict)

    def add(self, name: str, kind: str, value: str, *, chosen: bool = False) -> None:
        known = self.fields.get(name)
        if known is None:
            self.fields[name] = FormField(name, kind, value, [value] if kind == "choice" else [])
        elif kind == "choice":
            known.choices.append(value)
            if chosen:
                known.default = value

    def defaults(self) -> dict[str, str]:
        return {name: f.default or VALID_SAMPLES.get(name, "") for name, f in self.fields.items()}


class _FormParser(HTMLParser):
    def __init__(self, page_url: str):
        super().__init__(convert_charrefs=True)
        self.page_url = page_url
        self.forms: list[Form] = []
        self._form: Form | None = None
        self._textarea: str | None = None
        self._select: str | None = None

    def handle_starttag(self, tag, attrs):
        a = {key: value or "" for key, value in attrs}
        if tag == "form":
            self._form = Form(a.get("action") or self.page_url) if a.get("method", "").lower() == "post" else None
            if self._form is not None:
                self.forms.append(self._form)
            return
        form, name = self._form, a.get("name")
        if form is None or (not name and tag != "option") or name == "csrfmiddlewaretoken":
            return
        if tag == "input":
            kind = a.get("type", "text").lower()
            if kind in ("radio", "submit"):
                form.add(name, "choice", a.get("value", ""), chosen="checked" in a)
            elif kind in ("checkbox", "hidden"):
                form.add(name, "flag", a.get("value") or "on")
            elif kind == "number" or a.get("inputmode") in ("decimal", "numeric"):
                form.add(name, "number", a.get("value", ""))
            else:
                form.add(name, "text", a.get("value", ""))
        elif tag == "button" and name:
            form.add(name, "choice", a.get("value", ""))
        elif tag == "textarea":
            self._textarea = name
            form.add(name, "textarea", "")
        elif tag == "select":
            self._select = name
        elif tag == "option" and self._select:
            form.add(self._select, "choice", a.get("value", ""), chosen="selected" in a)

    def handle_data(self, data):
        if self._form is not None and self._textarea:
            self._form.fields[self._textarea].default += data

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "textarea":
            self._textarea = None
        elif tag == "select":
            self._select = None


def _forms(page_url: str, html: str) -> list[Form]:
    parser = _FormParser(page_url)
    parser.feed(html)
    return parser.forms


def _refused_values(f: FormField) -> list[str]:
    if f.kind == "text":
        return TEXT_REFUSED + SINGLE_LINE_REFUSED
    if f.kind == "textarea":
        return TEXT_REFUSED
    if f.kind == "number":
        return NUMBER_REFUSED
    if f.kind == "choice":
        return [value for value in CHOICE_REFUSED if value not in f.choices]
    return []  # a checkbox or hidden field: any value is as good as "on"


# --- the state -------------------------------------------------------------------------------------------------


def _snapshot_sql() -> str:
    quote_name = connection.ops.quote_name
    tables = sorted(
        model._meta.db_table
        for app in OUR_APPS
        for model in apps.get_app_config(app).get_models()
        if model._meta.managed and not model._meta.proxy
    )
    return "SELECT " + ", ".join(f"(SELECT COUNT(*) FROM {quote_name(table)})" for table in tables)


def _state(browser: HttpClient, client_id: int, sql: str) -> tuple:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        counts = cursor.fetchone()
    return counts, Client.objects.filter(pk=client_id).values().get(), browser.session.get("cart")


@pytest.fixture
def walker(customer, pending_order, hosting):
    """A logged-in client with an unpaid invoice, credit to apply, a live service with a module's account (so its
    page offers "reset password"), another whose cancellation is asked for, an Active domain, a domain whose
    transfer in waits (its page asks for an EPP code), and a product in the cart."""
    credit_add(client_id=customer.pk, amount=Decimal("3.00"), reason="walk", actor=None)
    service = ServiceFactory(
        client=customer,
        product=hosting,
        module="scripted",
        username="walk1",
        password_token=crypto.encrypt("walk-password-1"),
        account={"host": "db.example.net", "port": "5432", "database": "walk1"},
    )
    asked = ServiceFactory(client=customer, product=hosting)
    cancellation_request(service_id=asked.pk, when="end_of_period", reason="", actor=None)
    domain = DomainFactory(client=customer, name="walk.example", registrar="scripted_registrar")
    transfer = DomainFactory(
        client=customer,
        name="walk-in.example",
        registrar="scripted_registrar",
        registration_type="transfer",
        status="pending_transfer",
        expiry_date=None,
    )
    browser = HttpClient(raise_request_exception=False)
    browser.force_login(customer.user)
    added = browser.post(f"/store/products/{hosting.pk}/", {"billing_cycle": "monthly", "domain": "cart.example.com"})
    assert added.status_code == 302
    samples = {
        "invoice_id": str(pending_order.invoice_id),
        "service_id": str(service.pk),
        "product_id": str(hosting.pk),
        "gateway_code": "sandbox",
        "index": "0",
        "uidb64": urlsafe_base64_encode(force_bytes(customer.user.pk)),
        "token": default_token_generator.make_token(customer.user),
        "code": "stripe",
        "asked_service_id": str(asked.pk),
        "domain_id": str(domain.pk),
        "transfer_domain_id": str(transfer.pk),
        "change": "save_nameservers",
        # The cancellation's confirmation, as if sent: in the client's email history.
        # The REST API's objects (Basic auth only: the walk's session gets a 401, whatever the method).
        "pk": str(customer.pk),
        "client_id": str(customer.pk),
        "email_id": str(_sent(OutboundEmail.objects.get(client_id=customer.pk, template="cancellation_confirmed"))),
    }
    return browser, customer, samples


def _sent(email) -> int:
    OutboundEmail.objects.filter(pk=email.pk).update(status=OutboundEmail.Status.SENT, subject="Cancellation")
    return email.pk


# --- the walk --------------------------------------------------------------------------------------------------


def test_no_hostile_value_in_a_url_is_a_server_error(walker):
    # Not only on PostgreSQL: an id beyond 64 bits is an OverflowError on SQLite alone.
    browser, _customer, samples = walker
    errors = []
    routes = _routes()
    assert any(route.name == "clientarea:invoice_detail" for route in routes)  # the walk sees the client area
    for route in routes:
        missing = [name for name in route.parameters if name not in samples]
        assert not missing, f"{route.name} takes {missing}: give the walk a valid value for it in `samples`"
        for name in route.parameters:
            for value in PATH_VALUES:
                url = _url(route, {**samples, name: value})
                for method in (browser.get, browser.post):
                    status = method(url).status_code
                    if status >= 500:
                        errors.append(f"{method.__name__.upper()} {url[:80]} ({name}={value[:20]!r}): {status}")
        url = _url(route, samples)
        if "text/html" not in browser.get(url).get("Content-Type", ""):
            continue  # a PDF, a redirect: no page that reads query parameters
        for value in QUERY_VALUES:
            status = browser.get(url, dict.fromkeys(QUERY_NAMES, value)).status_code
            if status >= 500:
                errors.append(f"GET {url}?…={value[:20]!r}: {status}")
    assert not errors, "\n".join(errors)


@pytest.mark.postgres  # where NUL is a DataError; a new form field is caught here in CI
def test_no_hostile_value_in_a_form_is_a_server_error_and_refused_ones_change_nothing(walker):
    browser, customer, samples = walker
    sql = _snapshot_sql()
    cookies = copy.deepcopy(browser.cookies)  # the logged-in session, restored after every post (one logs out)
    errors: list[str] = []
    forms: dict[tuple, Form] = {}

    def remember(page_url: str, html: str) -> None:
        for form in _forms(page_url, html):
            forms.setdefault((urlsplit(form.action).path, tuple(form.fields)), form)

    def post(action: str, data: dict, *, must_refuse: bool, what: str):
        with transaction.atomic():
            before = _state(browser, customer.pk, sql)
            response = browser.post(action, data)
            if response.status_code >= 500:
                errors.append(f"POST {action} {what}: {response.status_code}")
            elif must_refuse and _state(browser, customer.pk, sql) != before:
                errors.append(f"POST {action} {what}: accepted, the database or the cart changed")
            transaction.set_rollback(True)
        browser.cookies = copy.deepcopy(cookies)
        return response

    post_only = {}  # url: route name, of the URLs a GET is not allowed on: a form of some page must post there
    asked = {**samples, "service_id": samples["asked_service_id"], "domain_id": samples["transfer_domain_id"]}
    for page in (f"/services/{asked['service_id']}/", f"/domains/{asked['domain_id']}/"):
        remember(page, browser.get(page).content.decode())
    for route in _routes():
        url = _url(route, asked if route.name in ON_THE_ASKED_ITEMS else samples)
        response = browser.get(url)
        assert response.status_code < 500, f"GET {url}: {response.status_code}"
        if response.status_code == 200 and "text/html" in response["Content-Type"]:
            remember(url, response.content.decode())
        elif response.status_code == 405 and route.name not in POSTED_BY_OTHERS:
            post_only[url] = route.name
    for form in list(forms.values()):  # the pages the forms answer with have forms too (the sandbox card)
        response = post(form.action, form.defaults(), must_refuse=False, what="as the page fills it")
        if response.status_code == 200 and "text/html" in response["Content-Type"]:
            remember(form.action, response.content.decode())
    unreached = {name for url, name in post_only.items() if url not in {path for path, _fields in forms}}
    assert not unreached, f"no page of the walk's client shows a form for {unreached}: give the walker that state"

    for form in forms.values():
        for f in form.fields.values():
            refused = _refused_values(f)
            for value in [*ANY_VALUE, MISSING, TWICE]:
                data = form.defaults()
                if value is MISSING:
                    del data[f.name]
                    what = f"without {f.name}"
                elif value is TWICE:
                    data[f.name] = [data[f.name], "1e1000000"]
                    what = f"{f.name} given twice"
                else:
                    data[f.name] = value
                    what = f"{f.name}={value[:20]!r}"
                post(form.action, data, must_refuse=value in refused, what=what)
    assert not errors, f"{len(errors)} of the walk's posts failed:\n" + "\n".join(errors[:60])
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE is None or len(HUGE) < settings.DATA_UPLOAD_MAX_MEMORY_SIZE

"""Every admin list stays fast however big its table grows: walked from the admin site's registry, so a new admin
is covered without touching this file. No list page counts its whole table, its number of queries does not
grow with the rows, and no page number in the URL, however hostile, is a server error."""

import datetime
import re

import pytest
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from automation.models import AutomationSettings
from automation.scheduler import automation_run
from billing.cycles import BillingCycle
from billing.gateways.base import IncomingEvent
from billing.models import BillingSettings, GatewayConfig, Invoice
from billing.services import payment_record
from billing.services.gateway_events import gateway_event_store
from fraud.models import FraudRule, FraudSettings
from orders.services import CartItem, order_accept
from provisioning.models import CancellationRequest
from provisioning.services import cancellation_request
from tests.factories import ClientFactory

# Tables whose size is set by the code or by a short configuration, never by use; every other admin's list must
# be bounded. A model lands here only with its reason.
FIXED_SIZE = {
    BillingSettings: "one row",
    AutomationSettings: "one row",
    FraudSettings: "one row (its list opens it)",
    FraudRule: "one row per rule in fraud.engine.RULES",
    GatewayConfig: "one row per gateway class in billing.gateways",
    "auth.Group": "the admins' roles",
    "django_celery_beat": "the beat schedule's entries",
    "notifications.HookSwitch": "at most one row per registered hook and event (notifications.hook_switches)",
}


def _fixed_size(model) -> bool:
    return model in FIXED_SIZE or model._meta.label in FIXED_SIZE or model._meta.app_label in FIXED_SIZE


GROWING = sorted(
    (model for model in admin.site._registry if not _fixed_size(model)), key=lambda model: model._meta.label
)
EVERY_LIST = sorted(admin.site._registry, key=lambda model: model._meta.label)


def _changelist(model) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


def _unbounded_counts(sqls: list[str]) -> list[str]:
    """COUNTs that read a whole table: a COUNT over a LIMIT subquery is the bounded form."""
    return [sql for sql in sqls if re.search(r"\bCOUNT\(", sql, re.IGNORECASE) and " LIMIT " not in sql.upper()]


def _whole_table_distincts(sqls: list[str], table: str) -> list[str]:
    """A sidebar filter listing a column's values, or a date hierarchy listing years: a DISTINCT over the whole
    table on every page view."""
    return [sql for sql in sqls if "DISTINCT" in sql.upper() and f'FROM "{table}"' in sql and "WHERE" not in sql]


def _get(http, url, params=None) -> tuple[int, list[str]]:
    with CaptureQueriesContext(connection) as queries:
        response = http.get(url, params or {})
    assert response.status_code == 200, (url, params, response.status_code)
    return len(queries), [query["sql"] for query in queries.captured_queries]


@pytest.fixture
def business(usd, hosting, domain_product, place, django_capture_on_commit_callbacks):
    """Rounds of what fills the growing tables, each through the services that fill them in production: an order
    placed and accepted (client, login, order, service, domain, invoice and lines, events, handler runs, activity,
    emails), its service's cancellation asked for, a payment for every other invoice, a gateway event and an
    automation run a month later (reminders, late fees, the run's log)."""
    rounds = []

    def add(count: int) -> None:
        for _ in range(count):
            number = len(rounds)
            client = ClientFactory(currency=usd)
            order = place(
                client,
                CartItem(product_id=hosting.pk, billing_cycle=BillingCycle.MONTHLY, domain=f"s{number}.example.com"),
                CartItem(product_id=domain_product.pk, billing_cycle=BillingCycle.ANNUALLY, domain=f"d{number}.com"),
            )
            with django_capture_on_commit_callbacks(execute=True):
                order_accept(order=order, actor=None)
            service = order.services.first()
            cancellation_request(
                service_id=service.pk, when=CancellationRequest.When.END_OF_PERIOD, reason="", actor=None
            )
            invoice = Invoice.objects.get(pk=order.invoice_id)
            if number % 2:
                payment_record(
                    invoice_id=invoice.pk,
                    amount=invoice.balance_due,
                    gateway="banktransfer",
                    gateway_transaction_id=f"bank-{number}",
                    actor=None,
                )
            gateway_event_store(
                gateway_code="stripe",
                incoming=IncomingEvent(event_id=f"evt_{number}", event_type="payment_intent.succeeded"),
            )
            with django_capture_on_commit_callbacks(execute=True):
                automation_run(today=timezone.localdate() + datetime.timedelta(days=30 + number))
            rounds.append(order)

    return add


def test_the_registry_holds_the_growing_lists_this_file_is_about():
    labels = {model._meta.label for model in GROWING}
    # A guard on the walk itself: if the registry came out empty, every test below would pass on nothing.
    assert {"orders.Order", "provisioning.Service", "billing.Invoice", "notifications.Event", "auth.User"} <= labels


def test_no_admin_list_counts_or_lists_its_whole_table_or_queries_more_as_rows_grow(admin_client, business):
    business(2)
    for model in GROWING:  # warm the per-process caches (content types, sessions) first
        _get(admin_client, _changelist(model))
    few = {model: _get(admin_client, _changelist(model))[0] for model in GROWING}
    rows_before = {model: model._default_manager.count() for model in GROWING}
    business(6)
    failures = []
    for model in GROWING:
        many, sqls = _get(admin_client, _changelist(model))
        if _unbounded_counts(sqls):
            failures.append(f"{model._meta.label} counts its table: {_unbounded_counts(sqls)}")
        if _whole_table_distincts(sqls, model._meta.db_table):
            failures.append(f"{model._meta.label} lists values of its whole table: {sqls}")
        if many != few[model]:
            rows = f"{rows_before[model]} -> {model._default_manager.count()} rows"
            failures.append(f"{model._meta.label}: {few[model]} queries, then {many} ({rows})")
    assert failures == []


@pytest.mark.parametrize("params", [{"status__exact": "active"}, {"q": "example"}, {"o": "1"}, {"all": ""}])
def test_a_filtered_searched_sorted_or_show_all_list_does_not_count_its_whole_table(params, admin_client, business):
    business(2)
    failures = []
    for model in GROWING:
        with CaptureQueriesContext(connection) as queries:
            response = admin_client.get(_changelist(model), params)
        # An unknown filter for this model is sent to the list's first page (302): no count is run either way.
        assert response.status_code in (200, 302), (model._meta.label, response.status_code)
        counts = _unbounded_counts([query["sql"] for query in queries.captured_queries])
        if counts:
            failures.append(f"{model._meta.label} {params}: {counts}")
    assert failures == []


HOSTILE_PAGES = ["100000000000000000", "-1", "0", "abc", "1e9", "9" * 5000, "", "2.5", " 3"]


@pytest.mark.parametrize("page", HOSTILE_PAGES)
def test_a_hostile_page_number_on_any_list_is_never_a_server_error_and_changes_nothing(page, admin_client, business):
    business(1)
    rows = {model: model._default_manager.count() for model in EVERY_LIST}
    failures = []
    for model in EVERY_LIST:
        url = _changelist(model)
        response = admin_client.get(url, {"p": page})
        if response.status_code == 302:  # a page past the list: Django sends the admin to its first page
            if response["Location"] not in (f"{url}?e=1", url) and not response["Location"].startswith("/admin/"):
                failures.append(f"{model._meta.label}: redirected to {response['Location']}")
            continue
        if response.status_code != 200:
            failures.append(f"{model._meta.label}: {response.status_code}")
    assert failures == []
    assert rows == {model: model._default_manager.count() for model in EVERY_LIST}


def test_a_page_past_the_end_goes_to_the_first_page_and_the_last_page_shows_its_rows(
    admin_client, business, monkeypatch
):
    business(3)
    monkeypatch.setattr(admin.site._registry[CancellationRequest], "list_per_page", 2)
    url = _changelist(CancellationRequest)
    assert admin_client.get(url, {"p": "100000000000000000"})["Location"] == f"{url}?e=1"
    first = admin_client.get(f"{url}?e=1")
    assert first.status_code == 200 and first.content.decode().count('class="field-status"') == 2
    last = admin_client.get(url, {"p": "2"})
    assert last.status_code == 200 and last.content.decode().count('class="field-status"') == 1

"""Every REST list the same way (issue 19, requirement 1's resources and lists): a client-scoped credential sees
its client's rows only and another client's id is a 404; a page costs the same queries for 3 rows as for 27; a
bad filter is a 400 naming it."""

import itertools

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from api.services import api_credential_create
from tests.api.callers import Api
from tests.factories import (
    ClientFactory,
    DomainFactory,
    InvoiceFactory,
    OrderFactory,
    ProductFactory,
    ServiceFactory,
    TransactionFactory,
)

pytestmark = pytest.mark.django_db

MAKERS = {
    "orders": lambda client: OrderFactory(client=client),
    "services": lambda client: ServiceFactory(client=client),
    "domains": lambda client: DomainFactory(client=client),
    "transactions": lambda client: TransactionFactory(invoice=InvoiceFactory(client=client, amounts=["9.00"])),
    "invoices": lambda client: InvoiceFactory(client=client, amounts=["9.00"]),
}
BAD_FILTERS = {
    "orders": ("status", "shipped"),
    "services": ("product", "x"),
    "domains": ("expires_after", "tomorrow"),
    "transactions": ("kind", "gift"),
    "invoices": ("due_before", "2026-13-01"),
    "products": ("type", "car"),
    "clients": ("created_after", "yesterday"),
}


NAMES = itertools.count(1)


def _api(**options) -> Api:
    made = api_credential_create(name=f"tool-{next(NAMES)}", actor=None, **options)
    return Api(made.credential.identifier, made.secret)


@pytest.mark.parametrize("resource", sorted(MAKERS))
def test_a_client_scoped_credential_lists_and_reads_only_its_clients_rows(resource, usd):
    mine, theirs = ClientFactory(currency=usd), ClientFactory(currency=usd)
    own, foreign = MAKERS[resource](mine), MAKERS[resource](theirs)
    scoped = _api(client_id=mine.pk)
    status, body = scoped.get(f"/api/v1/{resource}/")
    assert status == 200 and [row["id"] for row in body["results"]] == [own.pk]
    assert scoped.get(f"/api/v1/{resource}/{own.pk}/")[0] == 200
    assert scoped.get(f"/api/v1/{resource}/{foreign.pk}/")[0] == 404
    status, body = _api().get(f"/api/v1/{resource}/")
    assert {own.pk, foreign.pk} <= {row["id"] for row in body["results"]}


@pytest.mark.parametrize("resource", sorted(MAKERS))
def test_a_page_costs_the_same_queries_for_3_rows_as_for_27(resource, usd):
    api = _api()
    api.get(f"/api/v1/{resource}/")  # the first call of the minute also stamps the credential's last use

    def queries(count: int) -> int:
        for _ in range(count):
            MAKERS[resource](ClientFactory(currency=usd))
        with CaptureQueriesContext(connection) as captured:
            status, body = api.get(f"/api/v1/{resource}/", limit="100")
        assert status == 200 and len(body["results"]) >= count
        return len(captured)

    assert queries(3) == queries(24)


@pytest.mark.parametrize("resource", sorted(BAD_FILTERS))
def test_a_bad_filter_is_a_400_naming_it(resource):
    name, value = BAD_FILTERS[resource]
    status, body = _api().get(f"/api/v1/{resource}/", **{name: value})
    assert status == 400 and body["error"]["code"] == "invalid" and list(body["error"]["fields"]) == [name]


def test_a_client_scoped_credential_sees_the_catalog_but_not_hidden_or_retired_products(usd):
    for_sale = ProductFactory(name="Starter")
    ProductFactory(name="Secret", hidden=True)
    ProductFactory(name="Gone", retired=True)
    scoped = _api(client_id=ClientFactory(currency=usd).pk)
    assert [row["name"] for row in scoped.get("/api/v1/products/")[1]["results"]] == [for_sale.name]
    assert {row["name"] for row in _api().get("/api/v1/products/")[1]["results"]} == {"Starter", "Secret", "Gone"}

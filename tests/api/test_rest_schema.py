"""The REST API answers what its OpenAPI document says (issue 19: "every response matching the schema"; the
schemathesis run is to come): each list's page, each object, and each error in the one shape, validated against
the served document with jsonschema."""

import json

import jsonschema
import pytest
from django.test import Client as HttpClient

from api.services import api_credential_create
from tests.api.callers import Api
from tests.factories import (
    ClientFactory,
    DomainFactory,
    InvoiceFactory,
    OrderFactory,
    ServiceFactory,
    TransactionFactory,
)

pytestmark = pytest.mark.django_db


def _json_schema(node):
    """OpenAPI 3.0's `nullable: true` as JSON Schema's "or null" (jsonschema knows no `nullable`)."""
    if isinstance(node, list):
        return [_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _json_schema(value) for key, value in node.items()}
    if node.pop("nullable", False):
        if "type" in node:
            node["type"] = [node["type"], "null"]
        else:
            node = {"anyOf": [node, {"type": "null"}]}
    return node


@pytest.fixture
def openapi():
    response = HttpClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    return _json_schema(json.loads(response.content))


def _check(openapi, path: str, method: str, status: int, body) -> None:
    operation = openapi["paths"][path][method]
    assert str(status) in operation["responses"], f"{method} {path} does not document {status}"
    schema = operation["responses"][str(status)]["content"]["application/json"]["schema"]
    jsonschema.validate(body, {**schema, "components": openapi["components"]})


@pytest.fixture
def api(usd):
    client = ClientFactory(currency=usd)
    InvoiceFactory(client=client, amounts=["12.50"])
    OrderFactory(client=client)
    ServiceFactory(client=client)
    DomainFactory(client=client, expiry_date=None, next_due_date=None)
    TransactionFactory(invoice=InvoiceFactory(client=client, amounts=["3.00"]))
    made = api_credential_create(name="schema-check", actor=None)
    return Api(made.credential.identifier, made.secret), client


@pytest.mark.parametrize(
    "resource", ["clients", "invoices", "orders", "products", "services", "domains", "transactions"]
)
def test_each_list_and_object_matches_the_document(openapi, api, resource):
    caller, _client = api
    status, page = caller.get(f"/api/v1/{resource}/")
    assert status == 200 and page["results"]
    _check(openapi, f"/api/v1/{resource}/", "get", 200, page)
    status, one = caller.get(f"/api/v1/{resource}/{page['results'][0]['id']}/")
    _check(openapi, f"/api/v1/{resource}/{{id}}/", "get", status, one)


def test_each_error_matches_the_one_documented_shape(openapi, api):
    caller, _client = api
    cases = [
        (caller.get("/api/v1/invoices/", status="nope"), "/api/v1/invoices/", 400),
        (Api("nobody", "nothing").get("/api/v1/invoices/"), "/api/v1/invoices/", 401),
        (caller.get("/api/v1/invoices/999999/"), "/api/v1/invoices/{id}/", 404),
    ]
    anonymous = HttpClient().get("/api/v1/clients/")
    cases.append(((anonymous.status_code, anonymous.json()), "/api/v1/clients/", 401))
    for (status, body), path, expected in cases:
        assert status == expected
        _check(openapi, path, "get", status, body)

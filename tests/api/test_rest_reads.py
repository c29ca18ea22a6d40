"""The REST API's first resources (issue 19, requirements 1 and 2, in part): an API credential made by the command,
HTTP Basic with its identifier and secret, one error shape, the area grants, the client scope (another client's
id is a 404), cursor pages and filters, and the schema with its doc page."""

import datetime
import io
import json
import re
from base64 import b64encode

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import Client as HttpClient
from django.test.utils import CaptureQueriesContext

from api.models import ApiCredential, Area, Grant
from api.services import api_credential_create
from billing.models import Invoice
from notifications.models import ActivityLog
from tests.api.callers import Api, basic_header
from tests.factories import ClientFactory, InvoiceFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def credential():
    def make(name="integration", **options):
        made = api_credential_create(name=name, actor=None, **options)
        return made.credential, Api(made.credential.identifier, made.secret)

    return make


def _assert_error(body, status: int, code: str) -> str:
    assert set(body) == {"error"} and body["error"]["status"] == status and body["error"]["code"] == code, body
    assert body["error"]["message"]
    return body["error"]["message"]


def test_the_command_prints_the_identifier_and_the_secret_once_and_keeps_only_its_hash(customer):
    out = io.StringIO()
    call_command("create_api_credential", "reseller-tool", "--read-only", "--client", str(customer.pk), stdout=out)
    lines = out.getvalue().splitlines()
    assert [line.split("=", 1)[0] for line in lines] == ["identifier", "secret"]
    identifier, secret = (line.split("=", 1)[1] for line in lines)
    credential = ApiCredential.objects.get(identifier=identifier)
    assert (credential.name, credential.client_id, credential.user.username) == (
        "reseller-tool",
        customer.pk,
        "api:reseller-tool",
    )
    assert set(credential.grants.values()) == {Grant.READ} and set(credential.grants) == set(Area.values)
    assert (
        secret not in json.dumps(list(ApiCredential.objects.values()), default=str)
        and not credential.user.has_usable_password()
    )
    assert ActivityLog.objects.filter(action="api_credential_created", subject_id=credential.pk).count() == 1
    status, body = Api(identifier, secret).get(f"/api/v1/clients/{customer.pk}/")
    assert status == 200 and body["email"] == customer.email


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["dup"], "exists already"),
        (["x", "--client", "999999"], "no client 999999"),
        (["y", "--allow-ip", "nope"], "not an IP"),
    ],
)
def test_the_command_refuses_bad_input_and_writes_nothing(args, says):
    call_command("create_api_credential", "dup", stdout=io.StringIO())
    before = ApiCredential.objects.count()
    with pytest.raises(CommandError, match=says):
        call_command("create_api_credential", *args, stdout=io.StringIO())
    assert ApiCredential.objects.count() == before


def test_no_credential_a_wrong_secret_and_another_credentials_secret_are_each_a_401_in_the_one_shape(credential):
    mine, _api = credential("mine")
    theirs = api_credential_create(name="theirs", actor=None)
    http = HttpClient(raise_request_exception=False)
    response = http.get("/api/v1/invoices/")
    assert response.status_code == 401 and response["WWW-Authenticate"] == 'Basic realm="api"'
    _assert_error(response.json(), 401, "not_authenticated")
    for header in (
        basic_header(mine.identifier, "wrong"),
        basic_header(mine.identifier, theirs.secret),  # a real secret, of another identifier
        basic_header("", theirs.secret),
        "Basic !!!not-base64",
        "Basic " + b64encode(b"no-colon").decode(),
    ):
        response = http.get("/api/v1/invoices/", HTTP_AUTHORIZATION=header)
        assert response.status_code == 401, header
        _assert_error(response.json(), 401, "authentication_failed")
    ApiCredential.objects.filter(pk=theirs.credential.pk).update(is_active=False)
    response = http.get(
        "/api/v1/invoices/", HTTP_AUTHORIZATION=basic_header(theirs.credential.identifier, theirs.secret)
    )
    assert response.status_code == 401


def test_an_area_not_granted_is_a_403(credential):
    made, api = credential()
    ApiCredential.objects.filter(pk=made.pk).update(grants={**made.grants, Area.INVOICES: Grant.NONE})
    _status, body = api.get("/api/v1/invoices/")
    _assert_error(body, 403, "permission_denied")
    assert api.get("/api/v1/clients/")[0] == 200


def test_a_client_scoped_credential_sees_its_client_only_and_another_clients_id_is_a_404(credential, usd):
    mine, other = ClientFactory(currency=usd), ClientFactory(currency=usd)
    own = InvoiceFactory(client=mine, amounts=["10.00"])
    foreign = InvoiceFactory(client=other, amounts=["20.00"])
    _made, api = credential(client_id=mine.pk)
    status, body = api.get("/api/v1/invoices/")
    assert status == 200 and [row["id"] for row in body["results"]] == [own.pk]
    assert api.get(f"/api/v1/invoices/{own.pk}/")[1]["total"] == "10.00"
    status, body = api.get(f"/api/v1/invoices/{foreign.pk}/")
    _assert_error(body, 404, "not_found")
    assert api.get(f"/api/v1/clients/{other.pk}/")[0] == 404
    assert [row["id"] for row in api.get("/api/v1/clients/")[1]["results"]] == [mine.pk]
    assert api.get("/api/v1/invoices/", client=str(other.pk))[1]["results"] == []


def test_an_address_outside_the_allow_list_is_refused(usd):
    made = api_credential_create(name="office", actor=None, allowed_ips=["10.1.0.0/16"])
    inside = Api(made.credential.identifier, made.secret, address="10.1.2.3")
    outside = Api(made.credential.identifier, made.secret, address="192.0.2.9")
    assert inside.get("/api/v1/clients/")[0] == 200
    _status, body = outside.get("/api/v1/clients/")
    assert "may not be used from 192.0.2.9" in _assert_error(body, 401, "authentication_failed")


def test_the_invoice_list_pages_by_cursor_newest_first(credential, usd):
    client = ClientFactory(currency=usd)
    invoices = [InvoiceFactory(client=client, amounts=["5.00"]) for _ in range(5)]
    _made, api = credential()
    status, first = api.get("/api/v1/invoices/", limit="2")
    assert status == 200 and [row["id"] for row in first["results"]] == [invoices[4].pk, invoices[3].pk]
    assert first["previous"] is None and "cursor=" in first["next"]
    seen = [row["id"] for row in first["results"]]
    page = first
    while page["next"]:
        page = api.http.get(page["next"], HTTP_AUTHORIZATION=api.header).json()
        seen += [row["id"] for row in page["results"]]
    assert seen == [invoice.pk for invoice in reversed(invoices)]
    row = first["results"][0]
    assert (row["currency"], row["status"], row["client"], row["total"]) == ("USD", "unpaid", client.pk, "5.00")


def test_filters_by_status_client_and_dates_and_a_bad_value_is_a_400_naming_it(credential, usd):
    alice, bob = ClientFactory(currency=usd), ClientFactory(currency=usd)
    old = InvoiceFactory(client=alice, amounts=["1.00"], issue_date=datetime.date(2026, 1, 10))
    new = InvoiceFactory(client=alice, amounts=["2.00"], issue_date=datetime.date(2026, 11, 10))
    bobs = InvoiceFactory(client=bob, amounts=["3.00"], issue_date=datetime.date(2026, 11, 12))
    Invoice.objects.filter(pk=bobs.pk).update(status=Invoice.Status.CANCELLED)
    _made, api = credential()

    def ids(**query):
        status, body = api.get("/api/v1/invoices/", **query)
        assert status == 200, body
        return {row["id"] for row in body["results"]}

    assert ids(client=str(alice.pk)) == {old.pk, new.pk}
    assert ids(status="cancelled") == {bobs.pk}
    assert ids(date_after="2026-11-01") == {new.pk, bobs.pk}
    assert ids(date_before="2026-06-30", client=str(alice.pk)) == {old.pk}
    for name, value in (("status", "nope"), ("client", "-1"), ("client", "1e3"), ("date_after", "11/01/2026")):
        _status, body = api.get("/api/v1/invoices/", **{name: value})
        _assert_error(body, 400, "invalid")
        assert list(body["error"]["fields"]) == [name]
    assert api.get("/api/v1/invoices/", cursor="garbage")[0] == 404


@pytest.mark.parametrize("path", ["/api/v1/invoices/", "/api/v1/clients/"])
def test_a_page_costs_the_same_queries_for_3_rows_as_for_30(credential, usd, path):
    _made, api = credential()
    api.get(path)  # the first call of the minute also stamps the credential's last use

    def queries(count: int) -> int:
        for _ in range(count):
            InvoiceFactory(client=ClientFactory(currency=usd), amounts=["1.00"])
        with CaptureQueriesContext(connection) as captured:
            status, _body = api.get(path, limit="100")
        assert status == 200
        return len(captured)

    assert queries(3) == queries(27)


def test_ids_that_are_not_numbers_are_404s_not_500s(credential):
    _made, api = credential()
    for raw in ("abc", "0", "-1", "99999999999999999999999", "1.5", "%00"):
        response = api.http.get(f"/api/v1/invoices/{raw}/", HTTP_AUTHORIZATION=api.header)
        assert response.status_code == 404, raw


def test_the_schema_is_served_and_describes_basic_authentication_and_the_filters():
    response = HttpClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = json.loads(response.content)
    assert schema["components"]["securitySchemes"]["apiCredential"] == {
        "type": "http",
        "scheme": "basic",
        "description": "An API credential's identifier as the user name and its secret as the password.",
    }
    parameters = {p["name"] for p in schema["paths"]["/api/v1/invoices/"]["get"]["parameters"]}
    assert {"cursor", "limit", "status", "client", "date_after", "due_before"} <= parameters


def test_the_doc_page_loads_swagger_ui_from_our_own_static_files():
    page = HttpClient().get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "cdn." not in html and "<script>" not in html.replace(" ", "")


def test_the_admin_lists_credentials_without_secrets_and_switches_one_off_through_the_service(admin_client):
    made = api_credential_create(name="old-tool", actor=None)
    page = admin_client.get("/admin/api/apicredential/").content.decode()
    assert "old-tool" in page and made.secret not in page and made.credential.secret_hash not in page
    response = admin_client.post(
        "/admin/api/apicredential/", {"action": "deactivate", "_selected_action": [made.credential.pk]}
    )
    assert response.status_code == 302
    made.credential.refresh_from_db()
    assert made.credential.is_active is False
    assert ActivityLog.objects.filter(action="api_credential_deactivated", subject_id=made.credential.pk).exists()
    assert Api(made.credential.identifier, made.secret).get("/api/v1/clients/")[0] == 401


def test_an_admin_makes_a_credential_and_sees_its_secret_this_once(admin_client, customer):
    page = admin_client.post(
        "/admin/api/apicredential/add/",
        {"name": "billing-sync", "read_only": "on", "client_id": str(customer.pk), "allowed_ips": "10.0.0.0/8\n"},
    ).content.decode()
    made = ApiCredential.objects.get(name="billing-sync")
    secret = re.search(r'<code class="credential-secret">([^<]+)</code>', page).group(1)
    assert made.identifier in page and made.secret_hash not in page
    assert (made.client_id, made.allowed_ips, set(made.grants.values())) == (customer.pk, ["10.0.0.0/8"], {Grant.READ})
    assert Api(made.identifier, secret, address="10.2.3.4").get(f"/api/v1/clients/{customer.pk}/")[0] == 200
    change = admin_client.get(f"/admin/api/apicredential/{made.pk}/change/").content.decode()
    assert secret not in change and made.secret_hash not in change


def test_the_admin_form_refuses_bad_input_and_makes_nothing(admin_client, client):
    page = admin_client.post("/admin/api/apicredential/add/", {"name": "x", "allowed_ips": "not-an-address"})
    assert page.status_code == 200 and "is not an IP address or network" in page.content.decode()
    assert admin_client.post("/admin/api/apicredential/add/", {"name": ""}).status_code == 200
    assert not ApiCredential.objects.exists()
    staff = UserFactory(is_staff=True)
    client.force_login(staff)
    assert client.post("/admin/api/apicredential/add/", {"name": "sneaky"}).status_code == 403
    assert not ApiCredential.objects.exists()


def test_an_invoices_pdf_is_served_as_the_client_downloads_it_and_another_clients_is_a_404(credential, usd):
    mine, other = ClientFactory(currency=usd), ClientFactory(currency=usd)
    own, foreign = InvoiceFactory(client=mine, amounts=["10.00"]), InvoiceFactory(client=other, amounts=["5.00"])
    _made, api = credential(client_id=mine.pk)
    response = api.http.get(f"/api/v1/invoices/{own.pk}/pdf/", HTTP_AUTHORIZATION=api.header)
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-") and own.number in response["Content-Disposition"]
    response = api.http.get(
        f"/api/v1/invoices/{foreign.pk}/pdf/", HTTP_AUTHORIZATION=api.header, HTTP_ACCEPT="application/pdf"
    )
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"

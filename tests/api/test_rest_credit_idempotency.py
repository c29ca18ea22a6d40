"""The API's first write, adding credit to a client (issue 19: "credit"), and Idempotency-Key on POST (issue 19,
requirement 3): the first answer replayed for the same key and body, the same key with another body refused with
a 422, and twenty requests at once with one key making one credit."""

import concurrent.futures
import json
from decimal import Decimal

import pytest
import requests
from django.test import Client as HttpClient

from api.models import IdempotentRequest
from api.services import api_credential_create
from billing.models import Client, Transaction
from notifications.models import ActivityLog
from tests.api.callers import basic_header
from tests.factories import ClientFactory, CurrencyFactory

pytestmark = pytest.mark.django_db


class Writer:
    def __init__(self, **options):
        made = api_credential_create(name=options.pop("name", "writer"), actor=None, **options)
        self.credential, self.secret = made.credential, made.secret
        self.http = HttpClient(raise_request_exception=False)

    def post(self, path: str, body: dict, key: str | None = None):
        headers = {"HTTP_AUTHORIZATION": basic_header(self.credential.identifier, self.secret)}
        if key is not None:
            headers["HTTP_IDEMPOTENCY_KEY"] = key
        response = self.http.post(path, json.dumps(body), content_type="application/json", **headers)
        return response, response.json()


def _credit(client: Client) -> Decimal:
    return Client.objects.values_list("credit_balance", flat=True).get(pk=client.pk)


def _url(client: Client) -> str:
    return f"/api/v1/clients/{client.pk}/credit/"


def test_credit_is_added_in_the_clients_currency_with_the_credential_as_the_actor(usd):
    client = ClientFactory(currency=usd)
    writer = Writer(name="crm")
    response, body = writer.post(_url(client), {"amount": "12.50", "reason": "Goodwill after the outage"})
    assert response.status_code == 201, body
    assert (body["kind"], body["client"], body["currency"]) == ("credit_added", client.pk, "USD")
    assert _credit(client) == Decimal("12.50")
    logged = ActivityLog.objects.get(action="credit_added", client_id=client.pk)
    assert logged.actor.username == "api:crm"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"amount": "1.005", "reason": "x"}, None),  # finer than the currency: the service's word
        ({"amount": "abc", "reason": "x"}, "amount"),
        ({"amount": "-5", "reason": "x"}, "amount"),
        ({"amount": "5.00"}, "reason"),
        ({"amount": "5.00", "reason": "   "}, "reason"),
        ({"amount": "1" * 30, "reason": "x"}, "amount"),
    ],
)
def test_bad_input_is_a_400_and_changes_nothing(usd, body, field):
    client = ClientFactory(currency=usd)
    response, answer = Writer().post(_url(client), body)
    assert response.status_code == 400, answer
    assert answer["error"]["code"] == "invalid"
    if field:
        assert field in answer["error"]["fields"]
    assert _credit(client) == 0 and not Transaction.objects.exists()


def test_a_json_number_is_read_as_its_text_and_checked_the_same_way(usd):
    client = ClientFactory(currency=usd)
    writer = Writer()
    assert writer.post(_url(client), {"amount": 5, "reason": "x"})[0].status_code == 201
    assert writer.post(_url(client), {"amount": 5.001, "reason": "x"})[0].status_code == 400
    assert _credit(client) == Decimal("5.00")


def test_a_currency_without_decimals_refuses_cents(db):
    client = ClientFactory(currency=CurrencyFactory(code="JPY", decimal_places=0))
    response, answer = Writer().post(_url(client), {"amount": "100.50", "reason": "x"})
    assert response.status_code == 400 and _credit(client) == 0, answer


def test_a_read_only_credential_is_refused_and_another_clients_id_is_a_404(usd):
    mine, theirs = ClientFactory(currency=usd), ClientFactory(currency=usd)
    response, answer = Writer(name="ro", read_only=True).post(_url(mine), {"amount": "1.00", "reason": "x"})
    assert response.status_code == 403 and answer["error"]["code"] == "permission_denied"
    scoped = Writer(name="scoped", client_id=mine.pk)
    assert scoped.post(_url(theirs), {"amount": "1.00", "reason": "x"})[0].status_code == 404
    assert scoped.post("/api/v1/clients/999999/credit/", {"amount": "1.00", "reason": "x"})[0].status_code == 404
    assert _credit(theirs) == 0 and _credit(mine) == 0


def test_the_same_key_and_body_replay_the_first_answer_and_another_body_is_a_422(usd):
    client = ClientFactory(currency=usd)
    writer = Writer()
    first, body = writer.post(_url(client), {"amount": "5.00", "reason": "once"}, key="credit-1")
    again, replayed = writer.post(_url(client), {"amount": "5.00", "reason": "once"}, key="credit-1")
    assert (first.status_code, again.status_code, replayed) == (201, 201, body)
    assert again["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first
    other, refused = writer.post(_url(client), {"amount": "9.00", "reason": "once"}, key="credit-1")
    assert other.status_code == 422 and refused["error"]["code"] == "idempotency_key_reused"
    assert _credit(client) == Decimal("5.00")
    fresh, _ = writer.post(_url(client), {"amount": "5.00", "reason": "once"}, key="credit-2")
    assert fresh.status_code == 201 and _credit(client) == Decimal("10.00")
    # Keys are the credential's own: another credential's same key is another request.
    assert (
        Writer(name="other").post(_url(client), {"amount": "5.00", "reason": "once"}, key="credit-1")[0].status_code
        == 201
    )


def test_a_refused_request_keeps_no_answer_so_its_key_serves_the_mended_request(usd):
    client = ClientFactory(currency=usd)
    writer = Writer()
    refused, _ = writer.post(_url(client), {"amount": "5.001", "reason": "x"}, key="k")
    mended, _ = writer.post(_url(client), {"amount": "5.00", "reason": "x"}, key="k")
    assert (refused.status_code, mended.status_code, _credit(client)) == (400, 201, Decimal("5.00"))


@pytest.mark.parametrize("key", ["", "   ", "k" * 256, "a\x01b"])
def test_a_bad_key_is_a_400(usd, key):
    client = ClientFactory(currency=usd)
    response, answer = Writer().post(_url(client), {"amount": "5.00", "reason": "x"}, key=key)
    assert response.status_code == 400 and "Idempotency-Key" in answer["error"]["message"]
    assert _credit(client) == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_requests_at_once_with_one_key_make_one_credit(live_server, usd):
    client = ClientFactory(currency=usd)
    made = api_credential_create(name="burst", actor=None)
    headers = {
        "Authorization": basic_header(made.credential.identifier, made.secret),
        "Idempotency-Key": "burst-1",
        "Content-Type": "application/json",
    }
    body = json.dumps({"amount": "7.00", "reason": "burst"})

    def send(_n):
        return requests.post(f"{live_server.url}{_url(client)}", data=body, headers=headers, timeout=30).status_code

    with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(send, range(20)))
    assert set(statuses) <= {201, 409} and statuses.count(201) >= 1, statuses
    assert _credit(client) == Decimal("7.00")
    assert Transaction.objects.filter(client=client).count() == 1
    assert IdempotentRequest.objects.get(key="burst-1").status_code == 201
    assert send(0) == 201 and Transaction.objects.filter(client=client).count() == 1  # a replay, once it is done


def test_the_run_forgets_answers_older_than_24_hours_and_the_key_then_serves_a_new_request(usd):
    from datetime import timedelta

    from django.utils import timezone

    from automation.scheduler import automation_run

    client = ClientFactory(currency=usd)
    writer = Writer()
    writer.post(_url(client), {"amount": "5.00", "reason": "old"}, key="old-key")
    writer.post(_url(client), {"amount": "5.00", "reason": "new"}, key="new-key")
    IdempotentRequest.objects.filter(key="old-key").update(created_at=timezone.now() - timedelta(hours=25))
    outcome = automation_run(today=timezone.localdate(), only=["api_idempotency_cleanup"], trigger="test")
    assert outcome.ok and outcome.steps[0].counts == {"idempotency keys forgotten": 1}
    assert list(IdempotentRequest.objects.values_list("key", flat=True)) == ["new-key"]
    again, _ = writer.post(_url(client), {"amount": "6.00", "reason": "another"}, key="old-key")
    assert again.status_code == 201 and _credit(client) == Decimal("16.00")

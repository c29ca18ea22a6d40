"""The API's rate limit per credential (issue 19, requirement 2): over it, a clear 429 with Retry-After, in the one
error shape; another credential is not slowed by it."""

import pytest
from django.core.cache import cache

from api.services import api_credential_create
from tests.api.callers import Api

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _counts_from_zero(settings):
    settings.PORTAL_API_RATE_LIMIT = "3/minute"
    cache.clear()
    yield
    cache.clear()


def _api(name: str) -> Api:
    made = api_credential_create(name=name, actor=None)
    return Api(made.credential.identifier, made.secret)


def test_the_fourth_call_in_a_minute_is_a_429_with_retry_after_and_another_credential_goes_on():
    busy, calm = _api("busy"), _api("calm")
    assert [busy.get("/api/v1/clients/")[0] for _ in range(3)] == [200, 200, 200]
    response = busy.http.get("/api/v1/clients/", HTTP_AUTHORIZATION=busy.header)
    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 60
    error = response.json()["error"]
    assert (error["status"], error["code"]) == (429, "throttled") and "seconds" in error["message"]
    assert calm.get("/api/v1/clients/")[0] == 200


def test_no_limit_when_the_setting_is_empty(settings):
    settings.PORTAL_API_RATE_LIMIT = ""
    api = _api("unlimited")
    assert {api.get("/api/v1/clients/")[0] for _ in range(6)} == {200}


def test_calls_without_a_credential_are_refused_before_they_count():
    api = _api("counted")
    anonymous = Api("nobody", "nothing")
    assert {anonymous.get("/api/v1/clients/")[0] for _ in range(5)} == {401}
    assert [api.get("/api/v1/clients/")[0] for _ in range(3)] == [200, 200, 200]

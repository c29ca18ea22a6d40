"""The client's address behind our own proxies: what log-in throttling and the fraud check count by."""

import pytest
from django.test import RequestFactory

from core.requests import client_address


@pytest.mark.parametrize(
    ("hops", "forwarded", "expected"),
    [
        (0, "203.0.113.7", "10.0.0.2"),  # no proxy of ours: a client-written header is ignored
        (1, "203.0.113.7", "203.0.113.7"),
        (1, "198.51.100.1, 203.0.113.7", "203.0.113.7"),  # the left entry was written by the client
        (2, "198.51.100.1, 203.0.113.7", "198.51.100.1"),
        (2, "203.0.113.7", "10.0.0.2"),  # did not come through both proxies
        (1, "", "10.0.0.2"),
    ],
)
def test_the_address_is_the_one_our_outermost_proxy_saw(settings, hops, forwarded, expected):
    settings.PORTAL_TRUSTED_PROXY_HOPS = hops
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=forwarded)
    assert client_address(request) == expected


def test_behind_a_proxy_one_clients_failures_do_not_lock_out_another(client, settings, django_user_model):
    settings.PORTAL_TRUSTED_PROXY_HOPS = 1
    django_user_model.objects.create_user(username="dave@example.com", email="dave@example.com", password="right-1")
    proxy = {"REMOTE_ADDR": "10.0.0.2"}
    for n in range(settings.LOGIN_FAILURE_LIMIT):
        client.post(
            "/login/",
            {"username": f"guess{n}@example.com", "password": "x"},
            HTTP_X_FORWARDED_FOR="203.0.113.7",
            **proxy,
        )
    client.cookies.clear()
    response = client.post(
        "/login/", {"username": "dave@example.com", "password": "right-1"}, HTTP_X_FORWARDED_FOR="198.51.100.1", **proxy
    )
    assert response.status_code == 302  # logged in: the guesser's address is not the proxy's

from django.test import override_settings
from django.urls import reverse

from tests.factories import ClientFactory

PASSWORD = "correct-horse-battery"


def _login(client, username, password, address="10.0.0.1"):
    return client.post(reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=address)


def test_ten_failures_lock_the_account_even_with_the_right_password(client, customer):
    username = customer.user.username
    for _ in range(10):
        assert _login(client, username, "wrong").status_code == 200
    response = _login(client, username, PASSWORD, address="10.0.0.2")  # another address: the account is locked
    assert response.status_code == 200 and "Too many failed log-in attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_nine_failures_still_let_the_right_password_in(client, customer):
    for _ in range(9):
        _login(client, customer.user.username, "wrong")
    assert _login(client, customer.user.username, PASSWORD).status_code == 302


def test_ten_failures_from_one_address_lock_that_address_for_every_account(client, customer, usd):
    other = ClientFactory(currency=usd)
    for n in range(10):
        _login(client, f"nobody{n}@example.com", "wrong", address="10.9.9.9")
    blocked = _login(client, other.user.username, PASSWORD, address="10.9.9.9")
    assert "Too many failed log-in attempts" in blocked.content.decode()
    assert _login(client, other.user.username, PASSWORD, address="10.9.9.10").status_code == 302


@override_settings(LOGIN_FAILURE_LIMIT=2)
def test_the_admin_login_is_throttled_too(client, admin_user):
    url = reverse("admin:login")
    for _ in range(2):
        client.post(url, {"username": "admin", "password": "wrong"}, REMOTE_ADDR="10.1.1.1")
    response = client.post(url, {"username": "admin", "password": "password"}, REMOTE_ADDR="10.1.1.2")
    assert "Too many failed log-in attempts" in response.content.decode()

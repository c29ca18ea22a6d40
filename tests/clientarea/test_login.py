from django.test import RequestFactory, override_settings
from django.urls import reverse

from core.auth import login_attempt
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


def _fullwidth(text):
    """Fullwidth letters: Django's log-in form folds these back to ASCII (NFKC) before it checks the password."""
    return "".join(chr(ord(c) - 0x21 + 0xFF01) if "!" <= c <= "~" else c for c in text)


def _look_alikes(username):
    return [
        _fullwidth(username[0]) + username[1:],
        username.upper(),
        f"  {username}  ",
        _fullwidth(username),
        f"\u3000{_fullwidth(username[:3])}{username[3:].upper()}",  # ideographic space, fullwidth, upper case
    ]


def test_a_fullwidth_look_alike_logs_in_as_the_account_it_folds_to(client, customer):
    response = _login(client, _look_alikes(customer.user.username)[0], PASSWORD)
    assert response.status_code == 302 and client.session["_auth_user_id"] == str(customer.user.pk)


def test_failures_spread_over_look_alike_usernames_lock_the_one_account(client, customer):
    variants = _look_alikes(customer.user.username)
    for n in range(10):  # every failure from its own address: only the account counter can add them up
        assert _login(client, variants[n % len(variants)], "wrong", address=f"10.0.1.{n}").status_code == 200
    for username in (customer.user.username, variants[0]):
        refused = _login(client, username, PASSWORD, address="10.0.2.1")
        assert "Too many failed log-in attempts" in refused.content.decode()
    assert "_auth_user_id" not in client.session


@override_settings(LOGIN_FAILURE_LIMIT=2)
def test_the_admin_login_counts_look_alike_usernames_as_one_account(client, admin_user):
    url = reverse("admin:login")
    for n, username in enumerate([_fullwidth("a") + "dmin", " ADMIN "]):
        client.post(url, {"username": username, "password": "wrong"}, REMOTE_ADDR=f"10.1.2.{n}")
    response = client.post(url, {"username": "admin", "password": "password"}, REMOTE_ADDR="10.1.2.9")
    assert "Too many failed log-in attempts" in response.content.decode()


def test_guesses_in_flight_at_once_are_counted_before_any_password_is_checked(settings):
    # Twenty guesses arrive on twenty workers before any of them has had its password checked: only the limit's
    # worth may go on to the check.
    request = RequestFactory().post("/login/", REMOTE_ADDR="203.0.113.9")
    outcomes = [login_attempt(request, "carol@example.com")[0] for _ in range(20)]
    assert outcomes.count(False) == settings.LOGIN_FAILURE_LIMIT

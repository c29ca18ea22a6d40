"""Password reset: limited per account and per address, and always gets the client back in."""

from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client, override_settings
from django.urls import reverse

from tests.factories import ClientFactory

PASSWORD = "correct-horse-battery"
NEW_PASSWORD = "Ample-Orbit-77"


def _login(browser, username, password, address):
    return browser.post(reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=address)


def _ask_for_reset(browser, email, address):
    return browser.post(reverse("password_reset"), {"email": email}, REMOTE_ADDR=address)


def _reset(browser, customer, address, password=NEW_PASSWORD):
    """Ask for a link, follow the newest email's link in `browser` and set `password`."""
    sent = len(mail.outbox)
    _ask_for_reset(browser, customer.email, address)
    assert len(mail.outbox) == sent + 1
    link = next(line for line in mail.outbox[-1].body.splitlines() if "/password/reset/" in line)
    form_page = browser.get(link.split("testserver", 1)[1], follow=True, REMOTE_ADDR=address)
    done = browser.post(
        form_page.redirect_chain[-1][0], {"new_password1": password, "new_password2": password}, REMOTE_ADDR=address
    )
    assert done.status_code == 302 and done.url == reverse("password_reset_complete")


def _lock(username, address="10.6.6.6"):
    attacker = Client()
    for _ in range(10):
        _login(attacker, username, "wrong", address)
    return attacker


def _log_out(browser):
    """Through the log-out view: the test client's own logout() would throw away every cookie."""
    browser.post(reverse("logout"))
    assert "_auth_user_id" not in browser.session


def _refused(response):
    return "Too many failed log-in attempts" in response.content.decode()


def test_twelve_requests_for_one_account_send_three_emails(client, customer):
    for n in range(12):  # each from its own address: only the account's limit applies
        response = _ask_for_reset(client, customer.email.upper(), f"10.2.0.{n}")
        assert response.status_code == 302 and response.url == reverse("password_reset_done")
    assert len(mail.outbox) == 3


def test_one_address_gets_ten_links_an_hour_whatever_the_accounts(client, usd):
    customers = [ClientFactory(currency=usd) for _ in range(12)]
    for customer in customers:
        _ask_for_reset(client, customer.email, "10.2.1.1")
    assert len(mail.outbox) == 10
    _ask_for_reset(client, customers[-1].email, "10.2.1.2")
    assert len(mail.outbox) == 11


def test_a_refused_request_looks_the_same_as_a_request_for_no_account(client, customer):
    for _ in range(3):
        _ask_for_reset(client, customer.email, "10.2.2.1")
    refused = _ask_for_reset(client, customer.email, "10.2.2.1")
    nobody = _ask_for_reset(client, "nobody@example.com", "10.2.2.1")
    assert len(mail.outbox) == 3
    assert (refused.status_code, refused.url) == (nobody.status_code, nobody.url)
    assert client.get(refused.url).content == client.get(nobody.url).content


def test_a_reset_unlocks_the_account_the_client_locked_themselves(client, customer):
    username = customer.user.username
    for _ in range(10):
        _login(client, username, "wrong", "10.3.0.1")
    assert _refused(_login(client, username, PASSWORD, "10.3.0.1"))
    _reset(client, customer, "10.3.0.1")
    assert _login(client, username, NEW_PASSWORD, "10.3.0.1").status_code == 302
    assert _login(Client(), username, NEW_PASSWORD, "10.3.0.2").status_code == 302  # another browser too


def test_an_attacker_who_keeps_failing_after_the_reset_does_not_lock_the_client_out(client, customer):
    username = customer.user.username
    attacker = _lock(username)
    assert _refused(_login(client, username, PASSWORD, "10.3.1.1"))
    _reset(client, customer, "10.3.1.1")
    for n in range(20):  # from fresh addresses, as its first one is locked
        _login(attacker, username, "wrong", f"10.6.7.{n}")
    assert _refused(_login(Client(), username, NEW_PASSWORD, "10.6.6.7"))  # the account is locked again
    assert _login(client, username, NEW_PASSWORD, "10.3.1.1").status_code == 302
    _log_out(client)
    assert _login(client, username, NEW_PASSWORD, "10.3.1.1").status_code == 302
    assert client.session["_auth_user_id"] == str(customer.user.pk)


def test_a_browser_that_logged_in_before_is_not_locked_out_by_someone_else(client, customer):
    username = customer.user.username
    assert _login(client, username, PASSWORD, "10.3.2.1").status_code == 302
    _log_out(client)
    _lock(username)
    assert _login(client, username, PASSWORD, "10.3.2.1").status_code == 302


def test_a_cookie_given_before_the_throttling_moved_to_core_still_counts(client, customer):
    """Known-device cookies are signed with the salt they had under orders.auth; a deploy of the move to core
    must not turn every remembered browser back into a stranger that an attacker can lock out."""
    from django.core import signing
    from django.utils.crypto import salted_hmac

    from core.auth import KNOWN_DEVICE_COOKIE

    user = customer.user
    stamp = salted_hmac("orders.auth.known-device", user.password, algorithm="sha256").hexdigest()[:32]
    client.cookies[KNOWN_DEVICE_COOKIE] = signing.dumps(
        {"user": user.pk, "stamp": stamp}, salt="orders.auth.known-device"
    )
    _lock(user.username)
    assert _login(client, user.username, PASSWORD, "10.3.2.1").status_code == 302


@override_settings(LOGIN_FAILURE_LIMIT=2)
def test_the_admin_login_remembers_the_browser_too(client, admin_user):
    url = reverse("admin:login")
    assert client.post(url, {"username": "admin", "password": "password"}, REMOTE_ADDR="10.4.0.1").status_code == 302
    _log_out(client)
    attacker = Client()
    for _ in range(2):
        attacker.post(url, {"username": "admin", "password": "wrong"}, REMOTE_ADDR="10.6.6.6")
    assert _refused(attacker.post(url, {"username": "admin", "password": "password"}, REMOTE_ADDR="10.6.6.6"))
    assert client.post(url, {"username": "admin", "password": "password"}, REMOTE_ADDR="10.4.0.1").status_code == 302


def test_a_remembered_browser_still_gets_only_ten_guesses(client, customer):
    username = customer.user.username
    _login(client, username, PASSWORD, "10.3.3.1")
    _log_out(client)
    for n in range(10):
        _login(client, username, "wrong", f"10.3.3.{10 + n}")
    assert _refused(_login(client, username, PASSWORD, "10.3.3.99"))


def test_a_browser_remembered_for_another_account_or_an_old_password_is_not_let_through(client, customer, usd):
    other = ClientFactory(currency=usd)
    assert _login(client, other.user.username, PASSWORD, "10.3.4.1").status_code == 302
    _log_out(client)
    _lock(customer.user.username)
    assert _refused(_login(client, customer.user.username, PASSWORD, "10.3.4.1"))

    user = get_user_model().objects.get(pk=other.user.pk)
    user.set_password(NEW_PASSWORD)  # as an admin would; the browser's cookie was for the old password
    user.save()
    _lock(other.user.username, address="10.6.6.8")
    assert _refused(_login(client, other.user.username, NEW_PASSWORD, "10.3.4.1"))


def test_a_browser_that_changes_its_password_stays_known_for_the_account(client, customer):
    username = customer.user.username
    assert _login(client, username, PASSWORD, "10.3.5.1").status_code == 302
    changed = client.post(
        reverse("password_change"),
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
        REMOTE_ADDR="10.3.5.1",
    )
    assert changed.status_code == 302
    _log_out(client)
    _lock(username)
    assert _login(client, username, NEW_PASSWORD, "10.3.5.1").status_code == 302

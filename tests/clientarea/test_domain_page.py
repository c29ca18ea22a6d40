"""The client's domain page (issue 18, requirement 7): status, expiry and auto-renew; nameservers, the transfer
lock, the EPP code (emailed, never shown) and the contact, each asked of the registrar through the module queue.
A refusal is shown in plain words and nothing changes locally; bad input is refused before anything is asked."""

import re

import pytest
from django.test import Client as HttpClient
from django.urls import reverse

from notifications.models import OutboundEmail
from provisioning.models import Domain, ModuleCall
from tests import registrar_package
from tests.factories import ClientFactory, DomainFactory

pytestmark = pytest.mark.django_db
NONCE = re.compile(r'name="nonce" value="([0-9a-f]{32})"')


@pytest.fixture(autouse=True)
def _fresh_registrar():
    registrar_package.reset()
    yield
    registrar_package.reset()


@pytest.fixture
def browser(customer):
    browser = HttpClient(raise_request_exception=False)
    browser.force_login(customer.user)
    return browser


@pytest.fixture
def domain(customer):
    return DomainFactory(
        client=customer,
        name="mine.example",
        registrar="scripted_registrar",
        nameservers=["ns1.old.example", "ns2.old.example"],
    )


def _page(browser, domain) -> str:
    response = browser.get(reverse("clientarea:domain_detail", args=[domain.pk]))
    assert response.status_code == 200
    return response.content.decode()


def _post(browser, domain, change, capture, **data):
    nonce = data.pop("nonce", None) or NONCE.search(_page(browser, domain)).group(1)
    with capture(execute=True):
        response = browser.post(reverse("clientarea:domain_change", args=[domain.pk, change]), {"nonce": nonce, **data})
    assert response.status_code == 302
    domain.refresh_from_db()
    return browser.get(response.url).content.decode()


def test_the_page_shows_status_expiry_auto_renew_lock_and_nameservers(browser, domain):
    page = _page(browser, domain)
    assert "Active" in page and domain.expiry_date.isoformat() in page
    assert "Auto-renew" in page and "ns1.old.example" in page and "Transfer lock" in page
    assert (
        reverse("clientarea:domain_detail", args=[domain.pk])
        in browser.get(reverse("clientarea:domain_list")).content.decode()
    )


def test_new_nameservers_go_through_the_registrar_and_are_the_domains_once_it_has_them(
    browser, domain, django_capture_on_commit_callbacks
):
    page = _post(
        browser,
        domain,
        "save_nameservers",
        django_capture_on_commit_callbacks,
        nameservers="NS1.new.example\nns2.new.example.",
    )
    assert domain.nameservers == ["ns1.new.example", "ns2.new.example"]
    call = ModuleCall.objects.get(domain=domain)
    assert (call.action, call.status) == ("save_nameservers", "succeeded")
    assert "Nameserver change" in page and "done by the registrar" in page


def test_nameservers_the_registry_refuses_are_shown_in_plain_words_and_nothing_changes(
    browser, domain, django_capture_on_commit_callbacks
):
    page = _post(
        browser,
        domain,
        "save_nameservers",
        django_capture_on_commit_callbacks,
        nameservers="ns.unknown.example\nns2.new.example",
    )
    assert domain.nameservers == ["ns1.old.example", "ns2.old.example"]
    assert "The registry does not know the nameserver ns.unknown.example." in page and "Nothing was changed" in page
    assert "2303" not in page  # the protocol's code is the admin's, not the client's


@pytest.mark.parametrize(
    ("lines", "why"),
    [
        ("ns1.only.example", "between 2 and 13"),
        ("ns1.a.example\n<script>x</script>.example", "is not a host name"),
        ("ns1.a.example\n../../etc/passwd", "is not a host name"),
        ("\n".join(f"ns{n}.many.example" for n in range(14)), "between 2 and 13"),
    ],
)
def test_bad_nameservers_are_refused_before_anything_is_asked(
    browser, domain, lines, why, django_capture_on_commit_callbacks
):
    page = _post(browser, domain, "save_nameservers", django_capture_on_commit_callbacks, nameservers=lines)
    assert why in page and not ModuleCall.objects.exists()
    assert domain.nameservers == ["ns1.old.example", "ns2.old.example"]


def test_the_lock_toggles_at_the_registrar(browser, domain, django_capture_on_commit_callbacks):
    assert domain.transfer_lock is True
    page = _post(browser, domain, "save_lock", django_capture_on_commit_callbacks)
    assert domain.transfer_lock is False and "Lock the domain" in page
    _post(browser, domain, "save_lock", django_capture_on_commit_callbacks, locked="on")
    assert domain.transfer_lock is True


def test_the_epp_code_is_emailed_to_the_owner_and_never_shown(
    browser, domain, customer, django_capture_on_commit_callbacks
):
    page = _post(browser, domain, "get_epp_code", django_capture_on_commit_callbacks)
    email = OutboundEmail.objects.get(template="domain_epp_code")
    assert email.to_address == customer.email and email.context["epp_code"] == registrar_package.EPP_CODE
    assert registrar_package.EPP_CODE not in page and f"emailed to {customer.email}" in page
    assert registrar_package.EPP_CODE not in _page(browser, domain)


def test_the_contact_goes_to_the_registrar_and_a_bad_country_is_refused(
    browser, domain, django_capture_on_commit_callbacks
):
    contact = {"name": "Ada Lovelace", "email": "ada@example.com", "country": "gb", "city": "London"}
    _post(browser, domain, "save_contacts", django_capture_on_commit_callbacks, **contact)
    assert registrar_package.CONTACTS["mine.example"]["country"] == "GB"
    page = _post(browser, domain, "save_contacts", django_capture_on_commit_callbacks, **{**contact, "country": "1"})
    assert "two-letter code" in page and ModuleCall.objects.filter(action="save_contacts").count() == 1


def test_a_double_submit_of_one_form_is_one_call(browser, domain, django_capture_on_commit_callbacks):
    nonce = NONCE.search(_page(browser, domain)).group(1)
    for _ in range(2):
        _post(browser, domain, "save_lock", django_capture_on_commit_callbacks, nonce=nonce)
    assert ModuleCall.objects.filter(action="save_lock").count() == 1


def test_auto_renew_is_switched_off_and_on_by_the_client(browser, domain):
    url = reverse("clientarea:domain_auto_renew", args=[domain.pk])
    assert browser.post(url, {}).status_code == 302
    domain.refresh_from_db()
    assert domain.auto_renew is False
    assert "no renewal invoice is made" in _page(browser, domain)
    browser.post(url, {"on": "on"})
    domain.refresh_from_db()
    assert domain.auto_renew is True


def test_a_domain_that_is_not_active_offers_no_change_and_refuses_one(
    browser, customer, django_capture_on_commit_callbacks
):
    pending = DomainFactory(client=customer, status=Domain.Status.PENDING_REGISTRATION, registrar="scripted_registrar")
    page = _page(browser, pending)
    assert "Save nameservers" not in page
    nonce = NONCE.search(page)
    assert nonce is None
    from provisioning.queue.requests import new_nonce

    page = _post(browser, pending, "save_lock", django_capture_on_commit_callbacks, nonce=new_nonce())
    assert "takes no change now" in page and not ModuleCall.objects.exists()


def test_another_clients_domain_is_404_and_nothing_is_asked(domain, usd):
    stranger = HttpClient(raise_request_exception=False)
    stranger.force_login(ClientFactory(currency=usd).user)
    assert stranger.get(reverse("clientarea:domain_detail", args=[domain.pk])).status_code == 404
    from provisioning.queue.requests import new_nonce

    response = stranger.post(reverse("clientarea:domain_change", args=[domain.pk, "save_lock"]), {"nonce": new_nonce()})
    assert response.status_code == 404 and not ModuleCall.objects.exists()


def test_an_unknown_change_or_a_get_is_not_a_server_error(browser, domain):
    assert (
        browser.post(reverse("clientarea:domain_change", args=[domain.pk, "delete_everything"]), {}).status_code == 404
    )
    assert browser.get(reverse("clientarea:domain_change", args=[domain.pk, "save_lock"])).status_code == 405
    assert (
        browser.post(reverse("clientarea:domain_change", args=[domain.pk, "save_lock"]), {"nonce": "x"}).status_code
        == 302
    )

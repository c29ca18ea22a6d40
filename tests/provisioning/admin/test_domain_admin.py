"""The admin's domain page (issue 18, requirement 8): the registrar actions its status and registrar allow, each
behind its permission and on a page of its own, the registrar log and the to-dos."""

import datetime
import re

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from provisioning.models import Domain, ModuleCall
from tests import registrar_package
from tests.factories import DomainFactory, UserFactory

pytestmark = pytest.mark.django_db
NONCE = re.compile(r'name="nonce" value="([0-9a-f]{32})"')


@pytest.fixture(autouse=True)
def _fresh_registrar():
    registrar_package.reset()
    yield
    registrar_package.reset()


@pytest.fixture
def domain(customer):
    return DomainFactory(client=customer, name="admin.example", registrar="scripted_registrar")


def _change(client, domain) -> str:
    return client.get(reverse("admin:provisioning_domain_change", args=[domain.pk])).content.decode()


def _action(domain, slug) -> str:
    return reverse("admin:provisioning_domain_action", args=[domain.pk, slug])


def _ask(client, domain, slug, capture, **data):
    page = client.get(_action(domain, slug)).content.decode()
    nonce = NONCE.search(page).group(1)
    with capture(execute=True):
        response = client.post(_action(domain, slug), {"nonce": nonce, **data})
    assert response.status_code == 302
    domain.refresh_from_db()
    return response


def test_the_page_offers_what_the_status_and_the_registrar_allow(admin_client, domain, customer):
    page = _change(admin_client, domain)
    for slug in ("renew", "sync", "save_nameservers", "save_lock", "get_epp_code", "save_contacts"):
        assert f'class="domain-{slug}"' in page, slug
    for slug in ("register", "transfer", "transfer_sync", "get_nameservers", "get_lock"):
        assert f'class="domain-{slug}"' not in page, slug  # not Pending, or the registrar does not offer it
    pending = DomainFactory(client=customer, status=Domain.Status.PENDING_REGISTRATION, registrar="scripted_registrar")
    page = _change(admin_client, pending)
    assert 'class="domain-register"' in page and 'class="domain-sync"' in page and 'class="domain-renew"' not in page
    manual = DomainFactory(client=customer, registrar="manual")
    page = _change(admin_client, manual)
    assert 'class="domain-renew"' in page and 'class="domain-sync"' not in page


def test_renew_asks_the_registrar_and_keeps_its_date_and_the_log_shows_the_call(
    admin_client, domain, django_capture_on_commit_callbacks
):
    before = domain.expiry_date
    response = _ask(admin_client, domain, "renew", django_capture_on_commit_callbacks, years="2")
    call = ModuleCall.objects.get(domain=domain)
    assert (call.action, call.status) == ("renew", "succeeded")
    assert domain.expiry_date == before.replace(year=before.year + 2) + datetime.timedelta(days=1)
    page = admin_client.get(response.url).content.decode()
    assert f"Renew asked of the registrar: registrar call #{call.pk} is queued." in page
    assert reverse("admin:provisioning_modulecall_change", args=[call.pk]) in page and "Registrar log" in page


def test_nameservers_from_the_admin_go_through_the_same_checks(
    admin_client, domain, django_capture_on_commit_callbacks
):
    _ask(admin_client, domain, "save_nameservers", django_capture_on_commit_callbacks, nameservers="ns1.a.example")
    assert not ModuleCall.objects.exists()
    _ask(
        admin_client,
        domain,
        "save_nameservers",
        django_capture_on_commit_callbacks,
        nameservers="ns1.a.example\nns2.a.example",
    )
    assert domain.nameservers == ["ns1.a.example", "ns2.a.example"]


def test_register_of_a_pending_registration_uses_its_rounds_key_so_twice_is_one_call(
    admin_client, customer, django_capture_on_commit_callbacks
):
    pending = DomainFactory(
        client=customer,
        name="late.example",
        status=Domain.Status.PENDING_REGISTRATION,
        registrar="scripted_registrar",
        expiry_date=None,
    )
    _ask(admin_client, pending, "register", django_capture_on_commit_callbacks)
    assert pending.status == Domain.Status.ACTIVE
    call = ModuleCall.objects.get(domain=pending)
    assert call.idempotency_key == f"domain:{pending.pk}:register:r0"


def test_each_action_needs_its_permission(client, domain):
    staff = UserFactory(is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_domain"))
    client.force_login(staff)
    assert 'class="domain-' not in _change(client, domain)
    assert client.get(_action(domain, "renew")).status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="registrar_read_domain"))
    page = _change(client, domain)
    assert 'class="domain-sync"' in page and 'class="domain-renew"' not in page
    assert client.get(_action(domain, "get_epp_code")).status_code == 403


def test_an_action_the_status_does_not_allow_is_refused_and_asks_nothing(admin_client, customer):
    cancelled = DomainFactory(client=customer, status=Domain.Status.CANCELLED, registrar="scripted_registrar")
    response = admin_client.post(_action(cancelled, "renew"), {"nonce": "0" * 32, "years": "1"})
    assert response.status_code == 302 and not ModuleCall.objects.exists()
    assert admin_client.get(_action(cancelled, "nope")).status_code == 404


def test_a_bad_renewal_length_is_a_form_error(admin_client, domain):
    page = admin_client.get(_action(domain, "renew")).content.decode()
    nonce = NONCE.search(page).group(1)
    response = admin_client.post(_action(domain, "renew"), {"nonce": nonce, "years": "11"})
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert not ModuleCall.objects.exists()


def test_the_page_reads_in_a_bounded_number_of_queries(admin_client, domain, django_assert_max_num_queries):
    for n in range(25):
        ModuleCall.objects.create(
            domain=domain, module="scripted_registrar", action="sync", idempotency_key=f"k{n}", requested_by="system"
        )
    with django_assert_max_num_queries(30):
        assert "Registrar log" in _change(admin_client, domain)

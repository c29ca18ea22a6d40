"""A domain at the EPP registrar, configured as an admin configures it (RegistrarConfig, the password encrypted),
goes through the module queue to the TLS EPP test server: accepted, it is registered there and Active until the
registry's date; synced, the registry's date wins. A configuration switched off asks nothing."""

import pytest

from provisioning.models import Domain, ModuleCall
from provisioning.services.domains import domain_activate
from tests.factories import DomainFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def configured(epp_registrar):
    return epp_registrar


def test_an_accepted_domain_is_registered_at_the_registry_with_its_date(
    customer, configured, epp_server, django_capture_on_commit_callbacks
):
    configured()
    domain = DomainFactory(
        client=customer, name="queued.test", status=Domain.Status.PENDING, expiry_date=None, registrar="epp"
    )
    with django_capture_on_commit_callbacks(execute=True):
        domain_activate(domain=domain, send_to_registrar=True, actor=None)
    domain.refresh_from_db()
    held = epp_server.registry.domains["queued.test"]
    assert (domain.status, domain.expiry_date) == (Domain.Status.ACTIVE, held.expires_at.date())
    call = ModuleCall.objects.get(domain=domain)
    assert call.status == ModuleCall.Status.SUCCEEDED
    assert epp_server.accounts["registrar-a"] not in call.request_excerpt + call.response_excerpt


def test_a_switched_off_configuration_asks_the_registry_nothing(
    customer, configured, epp_server, django_capture_on_commit_callbacks
):
    configured(active=False)
    domain = DomainFactory(
        client=customer, name="off.test", status=Domain.Status.PENDING, expiry_date=None, registrar="epp"
    )
    with django_capture_on_commit_callbacks(execute=True):
        domain_activate(domain=domain, send_to_registrar=True, actor=None)
    call = ModuleCall.objects.get(domain=domain)
    assert call.status == ModuleCall.Status.FAILED and "switched off" in call.error
    assert epp_server.count("domain:create") == 0 and epp_server.logins == 0

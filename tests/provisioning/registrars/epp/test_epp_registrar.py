"""The EPP registrar against the TLS EPP test server: each action of the registrar interface, its answers taken
from the registry, its refusals as the queue's typed errors with plain words for the client, and the repeats the
queue may make (after a worker died) doing nothing twice."""

import datetime

import pytest

from provisioning.registrars import registry
from provisioning.registrars.base import (
    Contact,
    DomainSnapshot,
    DomainTaken,
    PermanentRegistrarError,
    RegistrarAction,
    RegistrarContext,
    RegistryStatus,
    TransferState,
    TransientRegistrarError,
    WrongEppCode,
)
from provisioning.registrars.epp.registrar import close_sessions


@pytest.fixture(autouse=True)
def _sessions_closed():
    yield
    close_sessions()


@pytest.fixture
def settings_for(epp_server, epp_certificates):
    def settings(username="registrar-a"):
        return {
            "host": epp_server.host,
            "port": epp_server.port,
            "username": username,
            "password": epp_server.accounts[username],
            "ca_file": str(epp_certificates.ca_file),
            "contact_prefix": "pt",
            "timeout": 2,
        }

    return settings


@pytest.fixture
def call(settings_for):
    epp = registry.registrar_for("epp")

    def _call(action, name="shop.test", *, username="registrar-a", years=1, expiry=None, epp_code="", ns=(), **params):
        snapshot = DomainSnapshot(
            domain_id=42,
            name=name,
            years=years,
            expiry_date=expiry,
            nameservers=tuple(ns),
            registrant=Contact(name="Ada Lovelace", email="ada@example.com", city="London", country="GB"),
            epp_code=epp_code,
        )
        context = RegistrarContext(
            action=action,
            idempotency_key=f"k-{action}",
            settings=settings_for(username),
            domain=snapshot,
            params=params,
        )
        return epp.call(context)

    return _call


def test_the_epp_registrar_is_installed_with_its_settings_declared():
    epp = registry.registrar_class("epp")
    assert epp is not None and epp.checks_availability
    assert {s.name for s in epp.settings} >= {"host", "port", "username", "password", "ca_file"}


def test_check_says_what_the_registry_says(call, epp_server):
    epp_server.add_domain("taken.test", sponsor="registrar-b")
    assert call(RegistrarAction.CHECK, "free.test").available is True
    taken = call(RegistrarAction.CHECK, "taken.test")
    assert taken.available is False


def test_register_takes_the_registrys_expiry_and_a_repeat_finds_it_ours(call, epp_server):
    done = call(RegistrarAction.REGISTER, years=2, ns=())
    held = epp_server.registry.domains["shop.test"]
    assert done.expiry_date == held.expires_at.date() and not done.found_existing
    assert held.sponsor == "registrar-a" and held.registrant.startswith("pt42")
    again = call(RegistrarAction.REGISTER, years=2)
    assert again.found_existing and again.expiry_date == done.expiry_date
    assert epp_server.count("domain:create") == 1


def test_a_name_someone_else_holds_is_taken_in_plain_words(call, epp_server):
    epp_server.add_domain("shop.test", sponsor="registrar-b")
    with pytest.raises(DomainTaken) as taken:
        call(RegistrarAction.REGISTER)
    assert taken.value.transient is False and "2302" in taken.value.message
    assert taken.value.client_message == "shop.test is already registered by someone else."


def test_a_wrong_epp_code_is_refused_and_the_right_one_starts_a_transfer_followed_to_its_end(call, epp_server):
    epp_server.add_domain("move.test", sponsor="registrar-b", auth_info="right-code")
    with pytest.raises(WrongEppCode) as wrong:
        call(RegistrarAction.TRANSFER, "move.test", epp_code="wrong-code")
    assert "2201" in wrong.value.message and "EPP code" in wrong.value.client_message
    started = call(RegistrarAction.TRANSFER, "move.test", epp_code="right-code")
    assert started.state is TransferState.PENDING
    assert call(RegistrarAction.TRANSFER_SYNC, "move.test", epp_code="right-code").state is TransferState.PENDING
    epp_server.complete_transfer("move.test")
    done = call(RegistrarAction.TRANSFER_SYNC, "move.test", epp_code="right-code")
    assert done.state is TransferState.COMPLETED
    assert done.expiry_date == epp_server.registry.domains["move.test"].expires_at.date()


def test_a_rejected_transfer_is_failed_with_the_registrys_status(call, epp_server):
    epp_server.add_domain("stay.test", sponsor="registrar-b", auth_info="code-1")
    call(RegistrarAction.TRANSFER, "stay.test", epp_code="code-1")
    epp_server.reject_transfer("stay.test", "the owner said no")
    failed = call(RegistrarAction.TRANSFER_SYNC, "stay.test", epp_code="code-1")
    assert failed.state is TransferState.FAILED and "clientRejected" in failed.reason


def test_renew_keeps_the_registrys_date_and_a_repeat_renews_nothing_twice(call, epp_server):
    held = epp_server.add_domain("keep.test", sponsor="registrar-a", years=1)
    before = held.expires_at.date()
    renewed = call(RegistrarAction.RENEW, "keep.test", expiry=before, years=2)
    assert renewed.expiry_date == epp_server.registry.domains["keep.test"].expires_at.date()
    assert renewed.expiry_date.year == before.year + 2
    again = call(RegistrarAction.RENEW, "keep.test", expiry=before, years=2)
    assert again.found_existing and again.expiry_date == renewed.expiry_date
    assert epp_server.count("domain:renew") == 1


def test_a_domain_of_another_registrar_cannot_be_renewed(call, epp_server):
    epp_server.add_domain("theirs.test", sponsor="registrar-b")
    with pytest.raises(PermanentRegistrarError, match=r"does not show theirs\.test as ours"):
        call(RegistrarAction.RENEW, "theirs.test", expiry=datetime.date.today(), years=1)


def test_nameservers_are_saved_at_the_registry_and_refused_ones_change_nothing(call, epp_server):
    held = epp_server.add_domain("ns.test", sponsor="registrar-a", nameservers=())
    saved = call(RegistrarAction.SAVE_NAMESERVERS, "ns.test", nameservers=["ns1.dns.net", "ns2.dns.net"])
    assert saved.hosts == ("ns1.dns.net", "ns2.dns.net")
    assert sorted(held.nameservers) == ["ns1.dns.net", "ns2.dns.net"]
    assert call(RegistrarAction.GET_NAMESERVERS, "ns.test").hosts == ("ns1.dns.net", "ns2.dns.net")
    epp_server.registry.refused_nameservers.add("ns.bad.net")
    with pytest.raises(PermanentRegistrarError) as refused:
        call(RegistrarAction.SAVE_NAMESERVERS, "ns.test", nameservers=["ns.bad.net", "ns2.dns.net"])
    assert "2303" in refused.value.message and "does not know" in refused.value.client_message
    assert sorted(held.nameservers) == ["ns1.dns.net", "ns2.dns.net"]


def test_the_lock_and_the_epp_code_are_the_registrys(call, epp_server):
    held = epp_server.add_domain("lock.test", sponsor="registrar-a", auth_info="the-code-9")
    assert call(RegistrarAction.SAVE_LOCK, "lock.test", locked=True).locked is True
    assert "clientTransferProhibited" in held.statuses
    assert call(RegistrarAction.GET_LOCK, "lock.test").locked is True
    call(RegistrarAction.SAVE_LOCK, "lock.test", locked=False)
    assert "clientTransferProhibited" not in held.statuses
    assert call(RegistrarAction.GET_EPP_CODE, "lock.test").code == "the-code-9"


def test_a_new_registrant_contact_is_made_and_set(call, epp_server):
    held = epp_server.add_domain("who.test", sponsor="registrar-a")
    registrant = {"name": "Grace Hopper", "email": "grace@example.com", "city": "Arlington", "country": "us"}
    call(RegistrarAction.SAVE_CONTACTS, "who.test", registrant=registrant)
    assert held.registrant.startswith("pt42") and held.registrant in epp_server.registry.contacts


@pytest.mark.parametrize(
    ("sponsor", "status"),
    [("registrar-a", RegistryStatus.ACTIVE), ("registrar-b", RegistryStatus.TRANSFERRED_AWAY)],
)
def test_sync_reads_the_registrys_expiry_and_who_holds_it(call, epp_server, sponsor, status):
    held = epp_server.add_domain("sync.test", sponsor=sponsor)
    answer = call(RegistrarAction.SYNC, "sync.test")
    assert answer.status is status
    if status is RegistryStatus.ACTIVE:
        assert answer.expiry_date == held.expires_at.date()


def test_sync_of_a_name_the_registry_does_not_know_is_gone(call):
    assert call(RegistrarAction.SYNC, "never.test").status is RegistryStatus.GONE


def test_a_registry_fault_or_a_full_session_is_transient(call, epp_server):
    epp_server.add_domain("busy.test", sponsor="registrar-a")
    epp_server.fail_next(1, code=2400)
    with pytest.raises(TransientRegistrarError) as busy:
        call(RegistrarAction.SYNC, "busy.test")
    assert "2400" in busy.value.message and "busy" in busy.value.client_message
    assert call(RegistrarAction.SYNC, "busy.test").status is RegistryStatus.ACTIVE


def test_a_registry_that_is_down_is_transient(call, epp_server):
    epp_server.stop()
    close_sessions()
    with pytest.raises(TransientRegistrarError) as down:
        call(RegistrarAction.CHECK, "any.test")
    assert "could not be reached" in down.value.client_message


def test_without_a_host_configured_the_call_is_refused_for_good():
    epp = registry.registrar_for("epp")
    context = RegistrarContext(
        action=RegistrarAction.CHECK,
        idempotency_key="k",
        settings={},
        domain=DomainSnapshot(domain_id=1, name="a.test"),
    )
    with pytest.raises(PermanentRegistrarError, match="no host or login configured"):
        epp.call(context)

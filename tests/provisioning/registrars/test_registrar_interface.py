"""The registrar interface (provisioning.registrars): the registry of built-in and third-party registrars, the
actions a registrar declares, the errors a queue can classify, and the Manual registrar's to-dos."""

import datetime

import pytest

from provisioning.modules.base import ModuleError, NotSupported
from provisioning.registrars import registry
from provisioning.registrars.base import (
    Contact,
    DomainSnapshot,
    DomainTaken,
    Registered,
    Registrar,
    RegistrarAction,
    RegistrarContext,
    TransferState,
    TransientRegistrarError,
    WrongEppCode,
    valid_host_name,
)
from tests import registrar_package


@pytest.fixture(autouse=True)
def _fresh_registrar():
    registrar_package.reset()
    yield
    registrar_package.reset()


def _context(action, name="shop.example", *, years=1, settings=None, **params) -> RegistrarContext:
    registrant = Contact(name="Ada Lovelace", email="ada@example.com", country="GB")
    snapshot = DomainSnapshot(
        domain_id=7, name=name, years=years, nameservers=("ns1.host.example", "ns2.host.example"), registrant=registrant
    )
    return RegistrarContext(
        action=action, idempotency_key=f"domain:7:{action}", settings=settings or {}, domain=snapshot, params=params
    )


def test_the_built_in_and_the_third_party_registrars_are_registered_and_offered_by_label():
    assert {"manual", "scripted_registrar"} <= set(registry.names())
    labels = dict(registry.choices())
    assert labels["scripted_registrar"] == "Scripted registrar (tests)"
    assert [label for _name, label in registry.choices()] == sorted(labels.values(), key=str.lower)


def test_an_unknown_registrar_is_a_lookup_error_naming_it():
    with pytest.raises(registry.UnknownRegistrar, match="'nope'"):
        registry.registrar_for("nope")


def test_a_second_registrar_under_a_taken_name_is_refused_so_a_package_cannot_replace_a_built_in():
    class Impostor(Registrar):
        name = "manual"
        label = "Not the manual one"

    with pytest.raises(ValueError, match="registered already"):
        registry.register(Impostor)
    assert registry.registrar_class("manual").__name__ == "ManualRegistrar"


def test_an_action_a_registrar_does_not_declare_is_not_supported_and_permanent():
    scripted = registry.registrar_for("scripted_registrar")
    with pytest.raises(NotSupported) as refused:
        scripted.call(_context(RegistrarAction.GET_LOCK))
    assert refused.value.transient is False and "get lock" in refused.value.message


@pytest.mark.parametrize("name", ["manual", "scripted_registrar"])
def test_only_a_registrar_that_says_so_reads_a_message_queue(name):
    registrar = registry.registrar_for(name)
    assert registrar.polls_messages is False and registry.registrar_class("epp").polls_messages is True
    with pytest.raises(NotSupported):
        registrar.poll({})
    with pytest.raises(NotSupported):
        registrar.poll_ack({}, "1")


def test_registrar_errors_are_module_errors_the_queue_classifies_with_a_client_message_apart():
    taken = DomainTaken("2302 Object exists", client_message="shop.example is taken.", code=2302)
    assert isinstance(taken, ModuleError) and taken.transient is False and taken.code == 2302
    assert taken.client_message == "shop.example is taken." and "2302" in taken.message
    assert TransientRegistrarError("2400 Command failed").transient is True
    assert WrongEppCode("2201").client_message == "The registrar refused the change."


def test_a_third_party_registrar_checks_registers_and_finds_its_own_name_on_a_second_register():
    scripted = registry.registrar_for("scripted_registrar")
    assert scripted.call(_context(RegistrarAction.CHECK)).available is True
    first = scripted.call(_context(RegistrarAction.REGISTER, years=2))
    assert first == Registered(expiry_date=datetime.date(2031, 1, 1), message="Registered.")
    again = scripted.call(_context(RegistrarAction.REGISTER, years=2))
    assert again.found_existing and again.expiry_date == first.expiry_date
    assert scripted.call(_context(RegistrarAction.CHECK)).available is False
    with pytest.raises(DomainTaken):
        scripted.call(_context(RegistrarAction.REGISTER, name="taken.example"))


def test_manual_registration_files_a_to_do_and_leaves_the_expiry_to_the_admin():
    manual = registry.registrar_for("manual")
    assert manual.checks_availability is False and not manual.supports(RegistrarAction.CHECK)
    done = manual.call(_context(RegistrarAction.REGISTER, years=2, settings={"instructions": "Use the reseller panel"}))
    assert done.expiry_date is None
    assert done.todo == (
        "Register shop.example for 2 years with nameservers ns1.host.example, ns2.host.example. Use the reseller panel"
    )


def test_manual_transfer_stays_pending_and_never_writes_the_epp_code_into_the_to_do():
    manual = registry.registrar_for("manual")
    context = _context(RegistrarAction.TRANSFER)
    context = RegistrarContext(
        action=context.action,
        idempotency_key=context.idempotency_key,
        settings={},
        domain=DomainSnapshot(domain_id=7, name="shop.example", epp_code="s3cret-Code"),
    )
    requested = manual.call(context)
    assert requested.state is TransferState.PENDING and "s3cret-Code" not in requested.todo


@pytest.mark.parametrize(
    ("action", "params", "todo"),
    [
        (RegistrarAction.RENEW, {"years": 3}, "Renew shop.example for 3 years."),
        (
            RegistrarAction.SAVE_NAMESERVERS,
            {"nameservers": ["a.ns.example"]},
            "Set the nameservers of shop.example to a.ns.example.",
        ),
        (RegistrarAction.SAVE_LOCK, {"locked": False}, "Unlock shop.example at the registry."),
        (RegistrarAction.GET_EPP_CODE, {}, "Get the EPP code of shop.example and email it to the client."),
    ],
)
def test_each_manual_writing_action_files_its_to_do(action, params, todo):
    assert registry.registrar_for("manual").call(_context(action, **params)).todo == todo


def test_manual_reads_the_nameservers_the_portal_has():
    hosts = registry.registrar_for("manual").call(_context(RegistrarAction.GET_NAMESERVERS)).hosts
    assert hosts == ("ns1.host.example", "ns2.host.example")


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("ns1.example.com", True),
        ("xn--bcher-kva.example", True),
        ("a-b.c0.example", True),
        ("example", False),
        ("-bad.example", False),
        ("bad-.example", False),
        ("UPPER.example", False),
        ("sp ace.example", False),
        ("<x>.example", False),
        ("a..example", False),
        ("../etc/passwd", False),
        ("a" * 64 + ".example", False),
        ("", False),
    ],
)
def test_host_names_are_checked_before_they_reach_a_registry(name, valid):
    assert valid_host_name(name) is valid


def test_event_suffixes_name_the_pre_and_after_events():
    assert RegistrarAction.SAVE_NAMESERVERS.event_suffix == "SaveNameservers"
    assert RegistrarAction.TRANSFER_SYNC.event_suffix == "TransferSync"


def test_every_registrar_action_has_its_pre_after_and_failed_events_in_the_catalog():
    from notifications.events import EVENTS

    for action in RegistrarAction:
        for name in (f"PreRegistrar{action.event_suffix}", f"AfterRegistrar{action.event_suffix}"):
            assert name in EVENTS, name
        assert f"AfterRegistrar{action.event_suffix}Failed" in EVENTS

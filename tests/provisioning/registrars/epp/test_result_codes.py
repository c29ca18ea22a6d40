"""Every result code the test server gives reaches the client as the right typed error: permanent for what the
same command can never fix, transient for the server's own trouble and ended sessions. A refused command
changes nothing at the registry."""

import datetime

import pytest

from provisioning.registrars.epp import commands
from provisioning.registrars.epp.commands import DomainChange
from provisioning.registrars.epp.errors import EppCommandError, ResultKind
from provisioning.registrars.epp.responses import classify, parse_greeting, parse_response
from provisioning.registrars.epp.transport import EppTransport

K = ResultKind


@pytest.mark.parametrize(
    ("code", "kind", "transient"),
    [
        (1000, K.SUCCESS, False),
        (1001, K.SUCCESS, False),
        (1300, K.SUCCESS, False),
        (1301, K.SUCCESS, False),
        (1500, K.SUCCESS, False),
        (2002, K.PROTOCOL, False),
        (2004, K.PARAMETER, False),
        (2005, K.PARAMETER, False),
        (2104, K.BILLING, False),
        (2106, K.NOT_ELIGIBLE, False),
        (2200, K.AUTHENTICATION, False),
        (2201, K.AUTHORIZATION, False),
        (2202, K.AUTHORIZATION, False),
        (2300, K.PENDING_TRANSFER, False),
        (2302, K.OBJECT_EXISTS, False),
        (2303, K.OBJECT_DOES_NOT_EXIST, False),
        (2304, K.STATUS_PROHIBITS, False),
        (2306, K.PARAMETER, False),
        (2400, K.COMMAND_FAILED, True),
        (2500, K.SESSION, True),
        (2501, K.SESSION, True),
        (2502, K.SESSION, True),
        (2999, K.PROTOCOL, False),  # a code we do not know is not retried blindly
    ],
)
def test_result_codes_are_classified(code, kind, transient):
    assert classify(code) == (kind, transient)


def _create(epp, name="new.test", **overrides):
    arguments = {"name": name, "years": 1, "registrant": "holder1", "auth_info": "code-1234", **overrides}
    return epp.domain_create(**arguments)


def _raises(code: int, kind: ResultKind, transient: bool, call):
    with pytest.raises(EppCommandError) as refused:
        call()
    assert (refused.value.code, refused.value.kind, refused.value.transient) == (code, kind, transient)
    return refused.value


def test_a_taken_domain_is_2302_permanent(epp, epp_server):
    epp_server.add_domain("taken.test", sponsor="registrar-b")
    _raises(2302, K.OBJECT_EXISTS, False, lambda: _create(epp, "taken.test"))
    assert epp_server.registry.domains["taken.test"].sponsor == "registrar-b"


def test_a_contact_id_in_use_is_2302(epp):
    _raises(
        2302,
        K.OBJECT_EXISTS,
        False,
        lambda: epp.contact_create(
            commands.ContactDetails(
                contact_id="holder1", name="Someone", email="a@example.test", city="Paris", country_code="FR"
            )
        ),
    )


def test_a_wrong_epp_code_is_2201_permanent_and_starts_no_transfer(epp, epp_server):
    epp_server.add_domain("theirs.test", sponsor="registrar-b", auth_info="right-code")
    _raises(2201, K.AUTHORIZATION, False, lambda: epp.domain_transfer_request(name="theirs.test", auth_info="wrong"))
    assert epp_server.registry.domains["theirs.test"].transfer is None
    assert epp_server.registry.queues.get("registrar-b", []) == []


@pytest.mark.parametrize("action", ["info", "update", "renew"])
def test_a_domain_of_another_registrar_is_2201(epp, epp_server, action):
    domain = epp_server.add_domain("theirs.test", sponsor="registrar-b")
    calls = {
        "info": lambda: epp.domain_info("theirs.test"),
        "update": lambda: epp.domain_update(name="theirs.test", change=DomainChange(add_statuses=["clientHold"])),
        "renew": lambda: epp.domain_renew(name="theirs.test", current_expiry=domain.expires_at.date(), years=1),
    }
    _raises(2201, K.AUTHORIZATION, False, calls[action])
    assert domain.statuses == set()


def test_a_missing_domain_is_2303(epp):
    _raises(2303, K.OBJECT_DOES_NOT_EXIST, False, lambda: epp.domain_info("nothing.test"))


def test_an_unknown_registrant_is_2303_and_nothing_is_registered(epp, epp_server):
    _raises(2303, K.OBJECT_DOES_NOT_EXIST, False, lambda: _create(epp, registrant="nobody"))
    assert "new.test" not in epp_server.registry.domains


def test_nameservers_the_registry_refuses_are_2303_naming_the_host(epp, epp_server):
    epp_server.registry.refused_nameservers = {"ns1.lame.example.net"}
    error = _raises(
        2303,
        K.OBJECT_DOES_NOT_EXIST,
        False,
        lambda: _create(epp, nameservers=["ns1.ok.example.net", "ns1.lame.example.net"]),
    )
    assert "Nameserver not known" in error.reason
    assert "new.test" not in epp_server.registry.domains
    epp_server.add_domain("mine.test", nameservers=("ns1.ok.example.net",))
    _raises(
        2303,
        K.OBJECT_DOES_NOT_EXIST,
        False,
        lambda: epp.domain_update(name="mine.test", change=DomainChange(add_nameservers=["ns1.lame.example.net"])),
    )
    assert epp_server.registry.domains["mine.test"].nameservers == ["ns1.ok.example.net"]


def test_an_in_zone_nameserver_that_was_never_created_is_2303(epp):
    _raises(2303, K.OBJECT_DOES_NOT_EXIST, False, lambda: _create(epp, nameservers=["ns1.new.test"]))


def test_an_update_of_a_locked_domain_is_2304_but_lifting_the_lock_alone_is_allowed(epp, epp_server):
    domain = epp_server.add_domain("locked.test", statuses=("clientUpdateProhibited",))
    _raises(
        2304,
        K.STATUS_PROHIBITS,
        False,
        lambda: epp.domain_update(name="locked.test", change=DomainChange(add_nameservers=["ns1.example.net"])),
    )
    assert domain.nameservers == []
    epp.domain_update(name="locked.test", change=DomainChange(remove_statuses=["clientUpdateProhibited"]))
    assert domain.statuses == set()


def test_a_transfer_of_a_transfer_locked_domain_is_2304(epp, epp_server):
    epp_server.add_domain("held.test", sponsor="registrar-b", auth_info="code", statuses=("clientTransferProhibited",))
    _raises(2304, K.STATUS_PROHIBITS, False, lambda: epp.domain_transfer_request(name="held.test", auth_info="code"))


def test_a_renewal_of_a_renew_prohibited_domain_is_2304(epp, epp_server):
    domain = epp_server.add_domain("norenew.test", statuses=("clientRenewProhibited",))
    _raises(
        2304,
        K.STATUS_PROHIBITS,
        False,
        lambda: epp.domain_renew(name="norenew.test", current_expiry=domain.expires_at.date(), years=1),
    )


def test_a_second_transfer_request_is_2300_and_one_of_our_own_domain_is_2106(epp, epp_server):
    epp_server.add_domain("moving.test", sponsor="registrar-b", auth_info="code")
    epp.domain_transfer_request(name="moving.test", auth_info="code")
    _raises(2300, K.PENDING_TRANSFER, False, lambda: epp.domain_transfer_request(name="moving.test", auth_info="code"))
    epp_server.add_domain("ours.test", auth_info="code")
    _raises(2106, K.NOT_ELIGIBLE, False, lambda: epp.domain_transfer_request(name="ours.test", auth_info="code"))


def test_a_renewal_against_the_wrong_expiry_date_or_period_is_2004_and_changes_nothing(epp, epp_server):
    domain = epp_server.add_domain("renew.test")
    expiry = domain.expires_at
    _raises(
        2004,
        K.PARAMETER,
        False,
        lambda: epp.domain_renew(name="renew.test", current_expiry=expiry.date() - datetime.timedelta(days=1), years=1),
    )
    _raises(
        2004, K.PARAMETER, False, lambda: epp.domain_renew(name="renew.test", current_expiry=expiry.date(), years=11)
    )
    assert domain.expires_at == expiry


def test_a_name_with_bad_syntax_is_2005_and_a_zone_not_served_is_2306(epp):
    _raises(2005, K.PARAMETER, False, lambda: _create(epp, "under_score.test"))
    _raises(2306, K.PARAMETER, False, lambda: _create(epp, "fine.org"))


def test_a_command_failed_2400_is_transient_and_registers_nothing(epp, epp_server):
    epp_server.fail_next(1, code=2400)
    _raises(2400, K.COMMAND_FAILED, True, lambda: _create(epp))
    assert "new.test" not in epp_server.registry.domains
    assert _create(epp).name == "new.test"  # the session is still good


def test_the_session_limit_is_2502_transient_at_login(epp_server, connect):
    epp_server.max_sessions = 1
    connect().connect()
    with pytest.raises(EppCommandError) as refused:
        connect().connect()
    assert (refused.value.code, refused.value.kind, refused.value.transient) == (2502, K.SESSION, True)
    assert epp_server.sessions_of("registrar-a") == 1


def test_a_wrong_password_is_2200_permanent_and_the_server_closes(epp_server, connect):
    session = connect(password="wrong-password")
    with pytest.raises(EppCommandError) as refused:
        session.connect()
    assert (refused.value.code, refused.value.kind, refused.value.transient) == (2200, K.AUTHENTICATION, False)
    assert not session.logged_in and epp_server.logins == 0


def test_a_command_before_login_is_2002(epp_server, epp_certificates):
    transport = EppTransport(host=epp_server.host, port=epp_server.port, ca_file=epp_certificates.ca_file)
    transport.open()
    parse_greeting(transport.read_frame())
    transport.send_frame(commands.domain_check(["early.test"]).payload)
    answer = parse_response(transport.read_frame())
    transport.close()
    assert answer.code == 2002 and answer.error().kind is K.PROTOCOL and not answer.error().transient

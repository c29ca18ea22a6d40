"""When the server ends the session, a query logs in again and is sent once more; a command that changes
something is never sent twice, since the first may have been carried out."""

import pytest

from provisioning.registrars.epp.commands import DomainChange
from provisioning.registrars.epp.errors import EppCommandError, EppTransportError

QUERIES = {
    "domain:check": lambda epp: epp.domain_check(["mine.test"]),
    "domain:info": lambda epp: epp.domain_info("mine.test"),
    "domain:transfer:query": lambda epp: epp.domain_transfer_query("mine.test"),
    "poll:req": lambda epp: epp.poll_request(),
}
CHANGES = {
    "domain:create": lambda epp, domain: epp.domain_create(
        name="brand-new.test", years=1, registrant="holder1", auth_info="code-1234"
    ),
    "domain:renew": lambda epp, domain: epp.domain_renew(
        name="mine.test", current_expiry=domain.expires_at.date(), years=1
    ),
    "domain:transfer:request": lambda epp, domain: epp.domain_transfer_request(name="theirs.test", auth_info="code"),
    "domain:update": lambda epp, domain: epp.domain_update(
        name="mine.test", change=DomainChange(add_statuses=["clientTransferProhibited"])
    ),
}


@pytest.fixture
def domains(epp_server):
    mine = epp_server.add_domain("mine.test")
    epp_server.add_domain("theirs.test", sponsor="registrar-b", auth_info="code")
    return mine


def _answered(name, call, epp):
    if name == "domain:transfer:query":
        with pytest.raises(EppCommandError) as not_pending:  # answered, and 2301 since no transfer ever started
            call(epp)
        assert not_pending.value.code == 2301
    else:
        call(epp)


@pytest.mark.parametrize("name", QUERIES)
@pytest.mark.parametrize("code", [2500, 2501, 2502])
def test_a_query_logs_in_again_once_after_the_server_ends_the_session(epp, epp_server, domains, name, code):
    epp_server.fail_next(1, code=code)
    _answered(name, QUERIES[name], epp)
    assert epp_server.logins == 2
    assert epp_server.count(name) == 2
    assert epp.logged_in


@pytest.mark.parametrize("name", QUERIES)
def test_a_query_logs_in_again_after_the_connection_is_lost(epp, epp_server, domains, name):
    epp_server.drop_connections()
    _answered(name, QUERIES[name], epp)
    assert epp_server.logins == 2


def test_a_query_is_sent_again_only_once(epp, epp_server, domains):
    epp_server.fail_next(2, code=2500)
    with pytest.raises(EppCommandError) as ended:
        epp.domain_info("mine.test")
    assert ended.value.code == 2500 and ended.value.transient
    assert epp_server.count("domain:info") == 2


@pytest.mark.parametrize("name", CHANGES)
def test_a_change_is_never_sent_again_after_the_session_ended(epp, epp_server, domains, name):
    epp_server.fail_next(1, code=2500)
    with pytest.raises(EppCommandError) as ended:
        CHANGES[name](epp, domains)
    assert ended.value.code == 2500 and ended.value.transient
    assert epp_server.count(name) == 1 and epp_server.logins == 1
    epp.domain_check(["next.test"])  # the next command opens a new session; the change is not replayed
    assert epp_server.count(name) == 1 and epp_server.logins == 2


@pytest.mark.parametrize("name", CHANGES)
def test_a_change_is_never_sent_again_after_the_connection_is_lost(connect, epp_server, domains, name):
    epp = connect(read_timeout=0.3)
    epp.connect()
    epp_server.stall_next(1)  # received, never answered: it may have been done
    with pytest.raises(EppTransportError) as lost:
        CHANGES[name](epp, domains)
    assert lost.value.request_sent and lost.value.transient
    epp.domain_check(["next.test"])
    assert epp_server.count(name) == 1 and epp_server.logins == 2

"""The test EPP server checked with an independent client, epptools (PyPI), through its own API: if the server
only understood our client, these would fail. The values asserted are the ones epptools parses itself."""

import pytest
from epptools import (
    AuthenticationException,
    AuthorizationError,
    Client,
    CommandException,
    Config,
    ObjectDoesNotExistError,
    ObjectExistsError,
    ObjectStatusError,
    SessionError,
)

from tests.epp_registry import stamp


@pytest.fixture
def epptools_client(epp_server, epp_certificates):
    def _client(clid: str = "registrar-a", password: str | None = None) -> Client:
        config = Config(
            host=epp_server.host,
            port=epp_server.port,
            clid=clid,
            password=password or epp_server.accounts[clid],
            ca_file=str(epp_certificates.ca_file),
            connect_timeout=2,
            read_timeout=2,
        )
        return Client(config)

    clients: list[Client] = []

    def _logged_in(clid: str = "registrar-a") -> Client:
        client = _client(clid)
        clients.append(client)
        client.connect()
        client.login()
        return client

    _logged_in.unauthenticated = _client
    yield _logged_in
    for client in clients:
        client.disconnect()


def test_epptools_reads_the_greeting_logs_in_and_out(epptools_client, epp_server):
    client = epptools_client()
    assert client.greeting.service_obj_uris() == epp_server.obj_uris
    assert client.greeting.service_ext_uris() == epp_server.ext_uris
    assert client.is_logged_in() and epp_server.logins == 1
    assert client.hello().is_greeting()
    assert client.logout().code() == 1500
    assert epp_server.count("logout") == 1


def test_epptools_checks_creates_and_reads_a_domain(epptools_client, epp_server):
    client = epptools_client()
    epp_server.add_domain("taken.test", sponsor="registrar-b")
    check = client.domain.check(["free.test", "taken.test"])
    assert check.code() == 1000 and check.availability() == {"free.test": True, "taken.test": False}
    assert check.unavailable_reason("taken.test") == "In use"

    assert (
        client.contact.create("holder9", name="Ann Holder", city="Paris", cc="FR", email="ann@example.test").code()
        == 1000
    )
    created = client.domain.create(
        "free.test",
        years=2,
        registrant="holder9",
        contacts={"admin": "holder9", "tech": ["holder9"]},
        nameservers=["ns1.dns.example.net", "ns2.dns.example.net"],
        auth_info="code-1234",
    )
    stored = epp_server.registry.domains["free.test"]
    assert created.code() == 1000 and created.object_name() == "free.test"
    assert created.created_date() == stamp(stored.created_at) and created.expiry_date() == stamp(stored.expires_at)

    info = client.domain.info("free.test")
    assert info.statuses() == ["ok"]
    assert info.nameservers() == ["ns1.dns.example.net", "ns2.dns.example.net"]
    assert (info.registrant(), info.sponsor(), info.auth_info()) == ("holder9", "registrar-a", "code-1234")
    assert info.contacts() == {"admin": ["holder9"], "tech": ["holder9"]}
    assert info.expiry_date() == stamp(stored.expires_at) and info.roid() == stored.roid


def test_epptools_renews_and_updates(epptools_client, epp_server):
    client = epptools_client()
    domain = epp_server.add_domain("mine.test", nameservers=("ns1.old.example.net",))
    before = domain.expires_at
    renewed = client.domain.renew("mine.test", client.domain.info("mine.test").expiry_date(), years=2)
    assert renewed.code() == 1000 and renewed.expiry_date() == stamp(before.replace(year=before.year + 2))

    updated = client.domain.update(
        "mine.test",
        add={"ns": ["ns1.new.example.net"], "statuses": ["clientTransferProhibited"]},
        rem={"ns": ["ns1.old.example.net"]},
        chg={"auth_info": "new-code-1"},
    )
    assert updated.code() == 1000
    info = client.domain.info("mine.test")
    assert info.nameservers() == ["ns1.new.example.net"]
    assert info.statuses() == ["clientTransferProhibited"]
    assert info.auth_info() == "new-code-1"


def test_epptools_transfers_and_polls(epptools_client, epp_server):
    client = epptools_client()
    epp_server.add_domain("incoming.test", sponsor="registrar-b", auth_info="their-code")
    requested = client.domain.transfer("request", "incoming.test", auth_info="their-code")
    assert requested.code() == 1001 and requested.is_pending()
    assert requested.transfer()["status"] == "pending"
    assert requested.transfer()["requested_by"] == "registrar-a"
    assert requested.transfer()["acting_client"] == "registrar-b"
    assert client.domain.transfer("query", "incoming.test").transfer_status() == "pending"

    assert client.poll.request().code() == 1300
    epp_server.complete_transfer("incoming.test")
    message = client.poll.request()
    assert message.code() == 1301 and message.message_count() == 1
    assert message.queue_message() == "Transfer completed."
    assert message.transfer_status() == "serverApproved" and message.queue_date()
    acked = client.poll.ack(message.message_id())
    assert acked.code() == 1000 and acked.message_count() == 0
    assert client.poll.request().code() == 1300

    loser = epptools_client("registrar-b")
    notices = []
    assert loser.poll.drain(notices.append) == 2  # "requested", then "completed"
    assert [notice.queue_message() for notice in notices] == ["Transfer requested.", "Transfer completed."]


def test_epptools_sees_the_refusals_as_its_own_typed_errors(epptools_client, epp_server):
    client = epptools_client()
    epp_server.add_domain("theirs.test", sponsor="registrar-b", auth_info="right")
    epp_server.add_domain("locked.test", statuses=("clientUpdateProhibited",))
    with pytest.raises(ObjectExistsError):
        client.domain.create("theirs.test", years=1, registrant="holder1", auth_info="x-123456")
    with pytest.raises(AuthorizationError) as wrong_code:
        client.domain.transfer("request", "theirs.test", auth_info="wrong")
    assert wrong_code.value.epp_code == 2201
    with pytest.raises(ObjectDoesNotExistError):
        client.domain.info("nothing.test")
    with pytest.raises(ObjectStatusError):
        client.domain.update("locked.test", add={"statuses": ["clientHold"]})
    epp_server.fail_next(1, code=2400)
    with pytest.raises(CommandException) as failed:
        client.domain.check(["any.test"])
    assert failed.value.epp_code == 2400 and failed.value.is_retryable()


def test_epptools_is_refused_a_wrong_password_and_a_session_over_the_limit(epptools_client, epp_server):
    wrong = epptools_client.unauthenticated("registrar-a", "wrong-password")
    wrong.connect()
    with pytest.raises(AuthenticationException):
        wrong.login()
    wrong.disconnect()
    epp_server.max_sessions = 1
    epptools_client()
    over = epptools_client.unauthenticated()
    over.connect()
    with pytest.raises(SessionError) as limited:
        over.login()
    assert limited.value.epp_code == 2502 and limited.value.is_retryable()
    over.disconnect()

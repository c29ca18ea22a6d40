"""Each EPP command against the test server, and what the client reads from the answers."""

import datetime
import time

import pytest

from provisioning.registrars.epp import commands
from provisioning.registrars.epp.commands import ContactDetails, DomainChange
from provisioning.registrars.epp.errors import EppValueError
from tests.epp_registry import EPP, q

HOLDER = ContactDetails(
    contact_id="holder2",
    name="Zoë Müller",
    organisation="Müller GmbH",
    email="zoe@example.test",
    street=["Hauptstraße 1", "Hinterhaus"],
    city="Köln",
    postcode="50667",
    country_code="DE",
    voice="+49.2211234567",
)


def test_login_announces_the_services_the_greeting_offered(epp_server, connect):
    epp_server.ext_uris = ["urn:ietf:params:xml:ns:secDNS-1.1", "http://registry.example/ext/custom-1.0"]
    greeting = connect().connect()
    login = next(command.node for command in epp_server.received if command.name == "login")
    assert [e.text for e in login.iter(q(EPP, "objURI"))] == list(greeting.obj_uris) == epp_server.obj_uris
    assert [e.text for e in login.iter(q(EPP, "extURI"))] == list(greeting.ext_uris) == epp_server.ext_uris
    assert greeting.server_id == "Portal test EPP server" and greeting.versions == ("1.0",)


def test_every_command_has_its_own_cltrid_and_the_answer_echoes_it(epp):
    first, second = commands.domain_check(["a.test"]), commands.domain_check(["a.test"])
    assert first.cltrid != second.cltrid
    assert epp.execute(first).cltrid == first.cltrid
    assert epp.execute(second).cltrid == second.cltrid


def test_hello_answers_a_fresh_greeting_on_a_logged_in_session(epp, epp_server):
    assert epp.hello().obj_uris == tuple(epp_server.obj_uris)
    assert epp.domain_check(["still-logged-in.test"])[0].available


def test_logout_ends_the_session_with_1500(epp, epp_server):
    epp.close()
    assert epp_server.count("logout") == 1 and not epp.logged_in
    # The server's thread sees the connection close a moment after the client does.
    deadline = time.monotonic() + 5
    while epp_server.sessions_of("registrar-a") and time.monotonic() < deadline:
        time.sleep(0.01)
    assert epp_server.sessions_of("registrar-a") == 0


def test_domain_check_says_which_names_are_free_and_why_the_others_are_not(epp, epp_server):
    epp_server.add_domain("taken.test")
    checked = epp.domain_check(["free.test", "taken.test", "elsewhere.org"])
    assert [(a.name, a.available, a.reason) for a in checked] == [
        ("free.test", True, ""),
        ("taken.test", False, "In use"),
        ("elsewhere.org", False, "Zone not served"),
    ]


def test_a_domain_is_created_with_contacts_nameservers_and_its_dates(epp, epp_server):
    epp_server.frozen_now = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.UTC)
    created = epp.domain_create(
        name="new.test",
        years=2,
        registrant="holder1",
        auth_info="code-1234",
        contacts=[("admin", "holder1"), ("tech", "holder1")],
        nameservers=["ns1.dns.example.net", "ns2.dns.example.net"],
    )
    assert created.name == "new.test"
    assert created.created_at == epp_server.frozen_now
    assert created.expires_at == datetime.datetime(2028, 3, 1, 12, 0, tzinfo=datetime.UTC)
    stored = epp_server.registry.domains["new.test"]
    assert (stored.sponsor, stored.registrant, stored.auth_info) == ("registrar-a", "holder1", "code-1234")
    assert stored.contacts == [("admin", "holder1"), ("tech", "holder1")]


def test_domain_info_reads_status_nameservers_dates_contacts_and_the_epp_code(epp, epp_server):
    epp_server.add_domain(
        "mine.test",
        auth_info="secret-code",
        nameservers=("ns1.dns.example.net",),
        statuses=("clientTransferProhibited", "clientDeleteProhibited"),
    )
    epp_server.registry.domains["mine.test"].contacts = [("admin", "holder1")]
    info = epp.domain_info("mine.test")
    stored = epp_server.registry.domains["mine.test"]
    assert info.name == "mine.test" and info.roid == stored.roid
    assert info.statuses == ("clientDeleteProhibited", "clientTransferProhibited")
    assert info.nameservers == ("ns1.dns.example.net",)
    assert (info.registrant, info.contacts, info.sponsor) == ("holder1", (("admin", "holder1"),), "registrar-a")
    assert info.expires_at == stored.expires_at and info.created_at == stored.created_at
    assert info.auth_info == "secret-code"


def test_a_domain_with_no_other_status_is_ok(epp, epp_server):
    epp_server.add_domain("plain.test")
    assert epp.domain_info("plain.test").statuses == ("ok",)


def test_renew_sends_the_current_expiry_and_reads_the_new_one(epp, epp_server):
    domain = epp_server.add_domain("renew.test")
    before = domain.expires_at
    renewed = epp.domain_renew(name="renew.test", current_expiry=before.date(), years=3)
    assert renewed.expires_at == before.replace(year=before.year + 3) == domain.expires_at
    curexp = epp_server.received[-1].node.find(q(commands.DOMAIN_NS, "curExpDate"))
    assert curexp.text == before.date().isoformat()


def test_a_transfer_request_is_pending_until_the_registry_completes_it_and_says_so_in_the_poll_queue(epp, epp_server):
    domain = epp_server.add_domain("incoming.test", sponsor="registrar-b", auth_info="their-code")
    expiry = domain.expires_at
    pending = epp.domain_transfer_request(name="incoming.test", auth_info="their-code", years=1)
    assert epp_server.received[-1].name == "domain:transfer:request"
    assert (pending.status, pending.requested_by, pending.acting_by) == ("pending", "registrar-a", "registrar-b")
    assert pending.expires_at == expiry.replace(year=expiry.year + 1)
    assert epp.domain_transfer_query("incoming.test").status == "pending"
    assert epp.poll_request() is None  # the losing registrar hears of the request, not us

    epp_server.complete_transfer("incoming.test")
    message = epp.poll_request()
    assert message is not None and message.count == 1 and message.message == "Transfer completed."
    assert message.transfer.name == "incoming.test" and message.transfer.status == "serverApproved"
    assert message.queued_at is not None
    assert epp.poll_request().message_id == message.message_id  # a request does not dequeue
    assert epp.poll_ack(message.message_id) == 0
    assert epp.poll_request() is None
    assert epp.domain_info("incoming.test").sponsor == "registrar-a"


def test_a_rejected_transfer_arrives_as_a_poll_message_with_the_reason(epp, epp_server):
    epp_server.add_domain("refused.test", sponsor="registrar-b", auth_info="their-code")
    epp.domain_transfer_request(name="refused.test", auth_info="their-code")
    epp_server.reject_transfer("refused.test", "Registrant did not approve.")
    message = epp.poll_request()
    assert message.message == "Registrant did not approve." and message.transfer.status == "clientRejected"
    assert epp.domain_transfer_query("refused.test").status == "clientRejected"
    assert epp_server.registry.domains["refused.test"].sponsor == "registrar-b"


def test_update_adds_and_removes_nameservers_statuses_and_contacts_and_changes_registrant_and_code(epp, epp_server):
    epp_server.registry.add_contact("holder3", sponsor="registrar-a")
    epp_server.add_domain("change.test", nameservers=("ns1.old.example.net",))
    epp_server.registry.domains["change.test"].contacts = [("tech", "holder1")]
    epp.domain_update(
        name="change.test",
        change=DomainChange(
            add_nameservers=["ns1.new.example.net"],
            remove_nameservers=["ns1.old.example.net"],
            add_statuses=["clientTransferProhibited"],
            add_contacts=[("tech", "holder3")],
            remove_contacts=[("tech", "holder1")],
            registrant="holder3",
            auth_info="new-code-99",
        ),
    )
    info = epp.domain_info("change.test")
    assert info.nameservers == ("ns1.new.example.net",)
    assert info.statuses == ("clientTransferProhibited",)
    assert info.contacts == (("tech", "holder3"),)
    assert (info.registrant, info.auth_info) == ("holder3", "new-code-99")

    epp.domain_update(name="change.test", change=DomainChange(remove_statuses=["clientTransferProhibited"]))
    assert epp.domain_info("change.test").statuses == ("ok",)


def test_an_update_that_changes_nothing_is_refused_before_it_is_sent(epp, epp_server):
    with pytest.raises(EppValueError):
        epp.domain_update(name="change.test", change=DomainChange())
    assert epp_server.count("domain:update") == 0


def test_a_contact_is_created_and_read_back_with_local_script_postal_info(epp, epp_server):
    created = epp.contact_create(HOLDER)
    assert created.identifier == "holder2"
    postal = epp_server.received[-1].node.find(q(commands.CONTACT_NS, "postalInfo"))
    assert postal.get("type") == "loc"  # not ASCII, so not "int" (RFC 5733 2.3.2)
    info = epp.contact_info("holder2")
    assert (info.name, info.organisation, info.street) == ("Zoë Müller", "Müller GmbH", ("Hauptstraße 1", "Hinterhaus"))
    assert (info.city, info.postcode, info.country_code) == ("Köln", "50667", "DE")
    assert (info.email, info.voice, info.sponsor) == ("zoe@example.test", "+49.2211234567", "registrar-a")


def test_hosts_are_checked_and_only_the_missing_ones_created_with_glue_when_in_zone(epp, epp_server):
    epp_server.add_domain("glue.test")
    epp_server.registry.add_host("ns2.dns.example.net", sponsor="registrar-b")
    created = epp.hosts_ensure(
        domain="glue.test",
        nameservers=["ns1.glue.test", "ns1.dns.example.net", "ns2.dns.example.net"],
        glue={"ns1.glue.test": ["192.0.2.53", "2001:db8::53"]},
    )
    assert created == ["ns1.glue.test", "ns1.dns.example.net"]
    assert epp_server.registry.hosts["ns1.glue.test"].addresses == [("v4", "192.0.2.53"), ("v6", "2001:db8::53")]
    assert epp_server.registry.hosts["ns1.dns.example.net"].addresses == []
    assert [a.available for a in epp.host_check(["ns1.glue.test", "ns9.glue.test"])] == [False, True]
    assert epp.domain_info("glue.test").subordinate_hosts == ("ns1.glue.test",)


def test_an_in_zone_nameserver_without_its_addresses_is_refused_before_anything_is_sent(epp, epp_server):
    with pytest.raises(EppValueError, match=r"ns1\.bare\.test"):
        epp.hosts_ensure(domain="bare.test", nameservers=["ns1.bare.test"], glue={})
    assert epp_server.count("host:check") == 0

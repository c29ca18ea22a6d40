"""Values with markup in them reach the server as text: the XML library escapes them, and nothing a user typed
can add an element, end a CDATA section or close a tag."""

import pytest

from provisioning.registrars.epp import commands
from provisioning.registrars.epp.commands import ContactDetails, DomainChange
from provisioning.registrars.epp.errors import EppCommandError, EppValueError
from tests.epp_registry import CONTACT, DOMAIN, q

HOSTILE = [
    "x<domain:name>evil.test</domain:name>.test",
    "a&amp;b&.test",
    "quote\"'.test",
    "cdata]]><![CDATA[.test",
    "</domain:check></check><logout/>.test",
]


@pytest.mark.parametrize("name", HOSTILE)
def test_a_hostile_domain_name_reaches_the_server_as_one_name(epp, epp_server, name):
    (checked,) = epp.domain_check([name])
    received = epp_server.received[-1].node.findall(q(DOMAIN, "name"))
    assert [element.text for element in received] == [name]
    assert (checked.name, checked.available) == (name, False)
    assert epp_server.count("logout") == 0


def test_the_frame_escapes_what_would_be_markup():
    payload = commands.domain_check(["a<b&c]]>.test"]).payload
    assert b"a&lt;b&amp;c]]&gt;.test" in payload


def test_a_hostile_contact_round_trips_as_the_same_text(epp, epp_server):
    name = '<contact:name>Mallory</contact:name>&"\'"'
    epp.contact_create(
        ContactDetails(
            contact_id="mallory", name=name, email="m@example.test", street=["]]>"], city="<city/>", country_code="ZZ"
        )
    )
    info = epp.contact_info("mallory")
    assert (info.name, info.street, info.city) == (name, ("]]>",), "<city/>")
    postal = epp_server.registry.contacts["mallory"].postal
    assert len(postal.findall(q(CONTACT, "name"))) == 1


def test_a_hostile_epp_code_and_nameserver_are_sent_as_text(epp, epp_server):
    epp_server.add_domain("theirs.test", sponsor="registrar-b", auth_info="right")
    with pytest.raises(EppCommandError):
        epp.domain_transfer_request(name="theirs.test", auth_info="</domain:pw><domain:pw>right")
    pw = epp_server.received[-1].node.find(f"{q(DOMAIN, 'authInfo')}/{q(DOMAIN, 'pw')}")
    assert pw.text == "</domain:pw><domain:pw>right"

    epp_server.add_domain("mine.test")
    hostile_ns = "ns1.example.net</domain:hostObj><domain:hostObj>ns2.example.net"
    epp.domain_update(name="mine.test", change=DomainChange(add_nameservers=[hostile_ns]))
    assert epp_server.registry.domains["mine.test"].nameservers == [hostile_ns.lower()]


@pytest.mark.parametrize("value", ["bad\x00.test", "bell\x07.test", "   "])
def test_a_value_xml_cannot_carry_is_refused_before_anything_is_sent(epp, epp_server, value):
    with pytest.raises(EppValueError):
        epp.domain_check([value])
    assert epp_server.count("domain:check") == 0

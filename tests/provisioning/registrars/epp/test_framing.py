"""RFC 5734 framing: a 4-byte big-endian length that counts itself, UTF-8 bytes, a size limit, and frames read
whole however the network cuts them."""

import struct

import pytest

from provisioning.registrars.epp.commands import DomainChange
from provisioning.registrars.epp.errors import EppProtocolError, EppTransportError
from provisioning.registrars.epp.transport import EppTransport, encode_frame


def test_the_length_prefix_counts_the_header_and_the_utf8_bytes_not_the_characters():
    payload = "<name>münchen-€.test</name>".encode()
    frame = encode_frame(payload)
    characters = len("<name>münchen-€.test</name>")
    assert struct.unpack("!I", frame[:4])[0] == len(payload) + 4 == characters + 1 + 2 + 4  # ü is 2 bytes, € 3
    assert frame[4:] == payload


def _transport(epp_server, epp_certificates, **options) -> EppTransport:
    transport = EppTransport(
        host=epp_server.host, port=epp_server.port, ca_file=epp_certificates.ca_file, read_timeout=2, **options
    )
    transport.open()
    return transport


def test_a_greeting_cut_into_small_tls_records_is_read_whole(epp_server, epp_certificates):
    epp_server.fragment_replies = True  # the header alone arrives in two pieces, the body in 40-byte pieces
    transport = _transport(epp_server, epp_certificates)
    payload = transport.read_frame()
    transport.close()
    assert payload.startswith(b"<?xml") and payload.endswith(b"</epp>")


def test_a_multibyte_utf8_value_survives_a_round_trip_through_the_server(epp, epp_server):
    epp_server.fragment_replies = True  # and cut inside the multi-byte characters
    checked = epp.domain_check(["straße-日本.test"])
    assert [a.name for a in checked] == ["straße-日本.test"]
    assert epp_server.received[-1].node[0].text == "straße-日本.test"


def test_a_frame_over_the_limit_is_refused_before_it_is_read(epp_server, epp_certificates):
    transport = _transport(epp_server, epp_certificates, max_frame_bytes=200)  # the greeting is larger
    with pytest.raises(EppTransportError, match="announced a frame of"):
        transport.read_frame()
    assert not transport.is_open


def test_a_runaway_length_prefix_closes_the_session(epp, epp_server):
    epp_server.send_instead(struct.pack("!I", 2**31), framed=False)
    with pytest.raises(EppTransportError) as refused:
        epp.domain_create(name="big.test", years=1, registrant="holder1", auth_info="code-1234")
    assert refused.value.request_sent and refused.value.transient
    assert not epp.logged_in


@pytest.mark.parametrize("length", [0, 3])
def test_a_length_smaller_than_its_own_header_is_refused(epp, epp_server, length):
    epp_server.send_instead(struct.pack("!I", length), framed=False)
    with pytest.raises(EppTransportError, match=f"a frame of {length} bytes"):
        epp.domain_create(name="small.test", years=1, registrant="holder1", auth_info="code-1234")


@pytest.mark.parametrize(
    ("reply", "complaint"),
    [
        (b"<epp xmlns='urn:ietf:params:xml:ns:epp-1.0'><response>", "does not parse"),
        (b'<!DOCTYPE epp [<!ENTITY a "aaaa">]><epp/>', "DOCTYPE"),
        (b"<html/>", "not an EPP frame"),
        ("<epp xmlns='urn:ietf:params:xml:ns:epp-1.0'/>".encode("utf-16"), "not UTF-8"),
    ],
)
def test_a_reply_that_is_not_epp_is_a_protocol_error(epp, epp_server, reply, complaint):
    epp_server.send_instead(reply)
    with pytest.raises(EppProtocolError, match=complaint):
        epp.domain_create(name="odd.test", years=1, registrant="holder1", auth_info="code-1234")


def test_a_reply_carrying_another_commands_cltrid_is_refused(epp, epp_server):
    epp_server.send_instead(
        b"<epp xmlns='urn:ietf:params:xml:ns:epp-1.0'><response><result code='1000'><msg>ok</msg></result>"
        b"<trID><clTRID>someone-else</clTRID><svTRID>SV-1</svTRID></trID></response></epp>"
    )
    with pytest.raises(EppProtocolError, match="clTRID"):
        epp.domain_update(name="x.test", change=DomainChange(add_statuses=["clientHold"]))
    assert not epp.logged_in

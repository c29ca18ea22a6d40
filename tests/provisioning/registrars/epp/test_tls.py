"""TLS: the server's certificate is verified against the CA we are given, a client certificate is sent when the
registry asks for one, and every way the connection fails is a transient EppTransportError."""

import socket
import time

import pytest

from provisioning.registrars.epp.errors import EppTransportError
from tests.epp_server import EppServer


def test_a_client_that_verifies_against_the_test_ca_connects(connect, epp_certificates):
    session = connect(ca_file=epp_certificates.ca_file, verify=True)
    assert session.connect().server_id and session.logged_in


def test_verification_against_another_ca_fails_with_a_transport_error(connect, epp_certificates, epp_server):
    session = connect(ca_file=epp_certificates.other_ca_file, verify=True)
    with pytest.raises(EppTransportError, match="TLS handshake") as refused:
        session.connect()
    assert refused.value.transient and not session.logged_in
    assert epp_server.logins == 0


def test_verification_against_the_system_store_does_not_trust_the_test_ca(connect):
    with pytest.raises(EppTransportError, match="CERTIFICATE_VERIFY_FAILED"):
        connect(ca_file=None).connect()


def test_verification_can_be_switched_off_for_a_registry_sandbox(connect):
    assert connect(ca_file=None, verify=False).connect().obj_uris


def test_a_registry_that_requires_a_client_certificate_gets_ours(epp_certificates, connect):
    server = EppServer(epp_certificates, require_client_cert=True).start()
    try:
        options = {"port": server.port, "host": server.host}
        with pytest.raises(EppTransportError):
            connect(**options).connect()  # no certificate: the server ends the handshake
        session = connect(
            **options,
            client_cert=epp_certificates.client_cert_file,
            client_key=epp_certificates.client_key_file,
        )
        session.connect()
        assert session.domain_check(["with-cert.test"])[0].available
        session.close()
    finally:
        server.stop()


def test_a_refused_connection_is_a_transient_transport_error(connect):
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # bound, not listening: the connection is refused
        with pytest.raises(EppTransportError, match="cannot connect") as refused:
            connect(port=port).connect()
    assert refused.value.transient and not refused.value.request_sent


def test_a_server_that_does_not_answer_times_out_after_the_read_timeout(connect, epp_server):
    epp_server.registry.add_contact("holder1", sponsor="registrar-a")
    epp = connect(read_timeout=0.5)
    epp.connect()
    epp_server.stall_next(1)
    started = time.monotonic()
    with pytest.raises(EppTransportError, match="timed out") as lost:
        epp.domain_create(name="slow.test", years=1, registrant="holder1", auth_info="code-1234")
    assert 0.4 < time.monotonic() - started < 2
    assert lost.value.request_sent  # the create may have happened: the caller must check before sending it again
    assert epp_server.count("domain:create") == 1

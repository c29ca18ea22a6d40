import pytest

from provisioning.registrars.epp.session import EppSession


@pytest.fixture
def connect(epp_server, epp_certificates):
    """Opens EppSessions to the test server (verified against its CA, short timeouts); all closed after the test."""
    opened: list[EppSession] = []

    def _connect(username: str = "registrar-a", password: str | None = None, **options) -> EppSession:
        options = {
            "host": epp_server.host,
            "port": epp_server.port,
            "ca_file": epp_certificates.ca_file,
            "connect_timeout": 2.0,
            "read_timeout": 2.0,
            **options,
        }
        session = EppSession(
            username=username,
            password=password if password is not None else epp_server.accounts[username],
            **options,
        )
        opened.append(session)
        return session

    yield _connect
    for session in opened:
        session.close()


@pytest.fixture
def epp(connect, epp_server):
    """A session logged in as registrar-a, with its contact holder1 at the registry."""
    epp_server.registry.add_contact("holder1", sponsor="registrar-a")
    session = connect()
    session.connect()
    return session

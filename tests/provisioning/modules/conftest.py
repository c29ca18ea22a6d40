import pytest

from tests.conftest import SKIP_REASONS
from tests.pdns import PDNS_SERVER, start_powerdns
from tests.provisioning.modules.servers import cleanup, local_server, password_server

__all__ = ["cleanup", "local_server", "password_server"]


@pytest.fixture(scope="session")
def powerdns():
    """A real pdns_server (tests/pdns.py) on free loopback ports, one per xdist worker, started when a test of that
    worker first asks for it and stopped at the end of the session. Tests keep apart by using zones of their own."""
    if not PDNS_SERVER.exists():
        pytest.skip(SKIP_REASONS["pdns"])
    server = start_powerdns()
    yield server
    server.stop()

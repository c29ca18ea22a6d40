from tests.provisioning.modules.servers import cleanup, local_server, password_server

__all__ = ["cleanup", "local_server", "password_server"]

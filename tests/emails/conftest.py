import logging

import pytest

from tests.smtp import SMTPServer


@pytest.fixture
def smtp(settings):
    """A real SMTP server on a free loopback port, Django's SMTP backend pointed at it, and sending after commit
    on (the unit tests' settings only queue)."""
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every command at INFO
    server = SMTPServer().start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", server.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = 5
    settings.EMAIL_SEND_AFTER_COMMIT = True
    settings.DEFAULT_FROM_EMAIL = "Example Hosting <billing@example.com>"
    yield server
    server.stop()

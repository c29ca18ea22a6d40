"""A real Celery worker on Redis sends an email through the `email` queue to a real SMTP server."""

import time

import pytest
from django.db import transaction

from config.celery import app as celery_app
from notifications.models import OutboundEmail
from notifications.services import email_queue
from tests.integration.worker_process import celery_worker, queue_for, routed_through_the_broker
from tests.smtp import SMTPServer

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

EMAIL_QUEUE = queue_for("email")  # one per xdist worker


@pytest.fixture
def smtp_server():
    server = SMTPServer().start()
    yield server
    server.stop()


@pytest.fixture
def email_worker(tmp_path, smtp_server):
    """A worker consuming only the email queue, its EMAIL_URL the test's SMTP server."""
    env = {"EMAIL_URL": smtp_server.url, "DEFAULT_FROM_EMAIL": "billing@example.com"}
    routes = {**celery_app.conf.task_routes, "notifications.send_emails": {"queue": EMAIL_QUEUE}}
    with (
        celery_worker([EMAIL_QUEUE], tmp_path / "worker.log", env=env) as log,
        routed_through_the_broker(routes),
    ):
        yield log


def test_a_queued_email_is_sent_by_a_real_worker_from_the_email_queue(email_worker, smtp_server, customer, settings):
    settings.EMAIL_SEND_AFTER_COMMIT = True
    with transaction.atomic():
        email, _ = email_queue(
            template="service_welcome",
            to_address=customer.email,
            idempotency_key="worker:1",
            context={"service_id": 1, "product": "Starter", "domain": "example.org"},
            client_id=customer.pk,
        )
    deadline = time.monotonic() + 30
    while not smtp_server.messages and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(smtp_server.messages) == 1, email_worker.read_text()
    message = smtp_server.messages[0].message
    assert message["To"] == customer.email and message["Subject"] == "Welcome: your Starter is active"
    email.refresh_from_db()
    while email.status != OutboundEmail.Status.SENT and time.monotonic() < deadline:
        time.sleep(0.2)
        email.refresh_from_db()
    assert email.status == OutboundEmail.Status.SENT and email.message_id == message["Message-ID"]
    assert "notifications.send_emails" in email_worker.read_text()

"""A real Celery worker on Redis sends an email through the `email` queue to a real SMTP server."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, transaction

from config.celery import app as celery_app
from notifications.models import OutboundEmail
from notifications.services import email_queue
from tests.smtp import SMTPServer

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

BASE_DIR = Path(settings.BASE_DIR)
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
# The email tasks' queue, one per xdist worker (as tests/integration/test_celery_worker.py does for its queue).
EMAIL_QUEUE = f"email-test-{XDIST_WORKER}"
NODE = f"email-test-{XDIST_WORKER}-{os.getpid()}@{socket.gethostname()}"


def _database_url() -> str:
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def smtp_server():
    server = SMTPServer().start()
    yield server
    server.stop()


def _reroute() -> None:
    """Celery builds its router once per process from task_routes: rebuild it for the routes as they are now."""
    celery_app.amqp.flush_routes()
    celery_app.amqp.__dict__.pop("router", None)


@pytest.fixture
def email_worker(tmp_path, smtp_server):
    """A worker consuming only the email queue, its EMAIL_URL the test's SMTP server."""
    with celery_app.connection_for_write() as conn:
        conn.default_channel.queue_purge(EMAIL_QUEUE)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "DATABASE_URL": _database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "EMAIL_URL": smtp_server.url,
        "DEFAULT_FROM_EMAIL": "billing@example.com",
    }
    log = (tmp_path / "worker.log").open("w")
    command = [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo", "--loglevel=INFO"]
    command += ["--without-gossip", "--without-mingle", "--without-heartbeat", "-Q", EMAIL_QUEUE, "-n", NODE]
    process = subprocess.Popen(command, cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT)
    routes = celery_app.conf.task_routes
    celery_app.conf.task_always_eager = False
    celery_app.conf.task_routes = {**routes, "notifications.send_emails": {"queue": EMAIL_QUEUE}}
    _reroute()
    try:
        deadline = time.monotonic() + 60
        while not celery_app.control.ping(destination=[NODE], timeout=0.5):
            assert process.poll() is None, (tmp_path / "worker.log").read_text()
            assert time.monotonic() < deadline, "worker did not answer a ping in 60 s"
        yield tmp_path / "worker.log"
    finally:
        celery_app.conf.task_always_eager = True
        celery_app.conf.task_routes = routes
        _reroute()
        process.terminate()
        process.wait(20)
        log.close()


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

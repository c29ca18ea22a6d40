"""A batch of emails is handed out in tasks of at most 100, and each email's outcome is recorded as soon as it is
sent: a worker that dies mid-batch leaves the ones it sent recorded sent (the sweep would otherwise send them
again), and an email that cannot be sent for a reason other than the mail server fails alone."""

import pytest
from django.core.mail import EmailMessage

from notifications.emails.sending import SendResult, emails_send
from notifications.models import OutboundEmail
from notifications.services import SEND_EMAILS_TASK, EmailToQueue, email_queue_many

pytestmark = pytest.mark.django_db


def _emails(customer, n, prefix="batch"):
    return [
        EmailToQueue(
            template="service_welcome",
            to_address=customer.email,
            idempotency_key=f"{prefix}:{i}",
            context={"service_id": i, "product": "Starter", "domain": "example.org"},
            client_id=customer.pk,
        )
        for i in range(n)
    ]


def test_a_batch_of_250_is_handed_out_in_three_tasks_of_at_most_100(
    customer, settings, monkeypatch, django_capture_on_commit_callbacks
):
    from celery import current_app

    settings.EMAIL_SEND_AFTER_COMMIT = True
    task, handed = current_app.tasks[SEND_EMAILS_TASK], []
    monkeypatch.setattr(task, "delay", lambda ids: handed.append(ids))  # what would go to the broker
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert email_queue_many(_emails(customer, 250)) == 250
    assert [callback.task_name for callback in callbacks] == [SEND_EMAILS_TASK] * 3
    assert [len(ids) for ids in handed] == [100, 100, 50]
    assert sorted(i for ids in handed for i in ids) == sorted(OutboundEmail.objects.values_list("pk", flat=True))


def test_a_worker_that_dies_mid_batch_leaves_the_emails_it_sent_recorded_sent(smtp, customer, monkeypatch):
    email_queue_many(_emails(customer, 5))
    ids = sorted(OutboundEmail.objects.values_list("pk", flat=True))
    real_send, calls = EmailMessage.send, []

    def send(message, *args, **kwargs):  # the worker is killed during the third email's SMTP exchange
        calls.append(message)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_send(message, *args, **kwargs)

    monkeypatch.setattr(EmailMessage, "send", send)
    with pytest.raises(KeyboardInterrupt):
        emails_send(ids)
    statuses = dict(OutboundEmail.objects.values_list("pk", "status"))
    assert [statuses[pk] for pk in ids] == ["sent", "sent", "sending", "sending", "sending"]
    assert len(smtp.messages) == 2


def test_an_email_whose_send_raises_value_error_is_failed_and_the_others_go_out(smtp, customer):
    emails = _emails(customer, 3)
    # An address with a line break: Django refuses it (ValueError) when the message is sent.
    emails[1] = EmailToQueue(**{**emails[1].__dict__, "to_address": "a@example.com\nBcc: b@example.com"})
    email_queue_many(emails)
    ids = sorted(OutboundEmail.objects.values_list("pk", flat=True))
    outcomes = emails_send(ids)
    assert [o.result for o in outcomes] == [SendResult.SENT, SendResult.FAILED, SendResult.SENT]
    bad = OutboundEmail.objects.get(pk=ids[1])
    assert bad.status == "failed" and bad.last_error.startswith("ValueError: Invalid address")
    assert len(smtp.messages) == 2


def test_the_runs_email_step_leaves_the_emails_for_the_next_sweep_when_the_broker_is_down(
    customer, settings, monkeypatch
):
    import datetime

    from kombu.exceptions import OperationalError

    from automation.scheduler import automation_run
    from notifications.emails.tasks import send_emails

    settings.EMAIL_SWEEP_IN_RUN = True
    email_queue_many(_emails(customer, 2))

    def refused(ids):  # what kombu raises when Redis does not answer
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(send_emails, "delay", refused)
    run = automation_run(today=datetime.date(2026, 12, 10), only=["email_sweep"], trigger="test")
    assert run.steps[0].counts == {"emails left for the next sweep": 2}
    assert set(OutboundEmail.objects.values_list("status", flat=True)) == {"queued"}

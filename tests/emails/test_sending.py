"""Emails leave through a real SMTP server (aiosmtpd on loopback): what arrives, once, and what a refusing server
does to them (retries with backoff, then failed, then an admin's retry)."""

import datetime
import threading

import pytest
from django.db import connection
from django.utils import timezone

from automation.scheduler import automation_run
from billing.services import invoice_send
from notifications.emails.sending import SendResult, email_retry, emails_send, emails_sweep, stale_claim
from notifications.emails.templates import email_template_update
from notifications.models import EmailTemplate, OutboundEmail
from notifications.services import email_queue
from notifications.tasks import email_sweep
from tests.factories import InvoiceFactory, UserFactory

pytestmark = pytest.mark.django_db

DUE = datetime.date(2026, 12, 10)


def _queue(customer, key="test:1", template="service_welcome"):
    email, _ = email_queue(
        template=template,
        to_address=customer.email,
        idempotency_key=key,
        context={"service_id": 1, "product": "Starter", "domain": "example.org"},
        client_id=customer.pk,
    )
    return email


def test_an_invoice_email_arrives_with_its_headers_both_parts_and_the_pdf(
    smtp, customer, django_capture_on_commit_callbacks
):
    invoice = InvoiceFactory(client=customer, amounts=["24.99"], due_date=DUE)
    with django_capture_on_commit_callbacks(execute=True):
        invoice_send(invoice_id=invoice.pk, actor=None)
    sent = OutboundEmail.objects.get(template="invoice")
    assert sent.status == OutboundEmail.Status.SENT and sent.sent_at is not None and sent.attempts == 1
    [received] = [
        m for m in smtp.messages if m.message["Subject"].startswith("Invoice ") and "attached" in m.content.decode()
    ]
    message = received.message
    assert received.rcpt_tos == [customer.email]
    assert message["To"] == customer.email
    assert message["From"] == "Example Hosting <billing@example.com>"
    assert message["Subject"] == f"Invoice {invoice.number} from Example Hosting"
    assert message["Message-ID"] == sent.message_id and message["Date"]
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    assert f"please find invoice {invoice.number} attached" in text and "24.99 USD" in text
    assert f"<strong>{invoice.number}</strong>" in html
    [pdf] = list(message.iter_attachments())
    assert pdf.get_content_type() == "application/pdf"
    assert pdf.get_filename() == f"{invoice.number}.pdf"
    assert pdf.get_content().startswith(b"%PDF")
    # What was sent is kept: the client's history shows it.
    assert sent.subject == message["Subject"] and "24.99 USD" in sent.body_text


def test_the_invoice_created_email_goes_out_once_with_its_pdf(smtp, customer, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        invoice = InvoiceFactory(client=customer, amounts=["10.00"], due_date=DUE)
    [received] = smtp.messages
    assert received.message["Subject"] == f"Invoice {invoice.number} from Example Hosting"
    assert [a.get_filename() for a in received.message.iter_attachments()] == [f"{invoice.number}.pdf"]
    assert OutboundEmail.objects.get(idempotency_key=f"invoice_created:{invoice.pk}").status == "sent"


def test_a_reminder_step_run_twice_sends_each_reminder_once(smtp, customer, django_capture_on_commit_callbacks):
    invoice = InvoiceFactory(
        client=customer, amounts=["100.00"], issue_date=DUE - datetime.timedelta(days=14), due_date=DUE
    )
    smtp.messages.clear()
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            run = automation_run(today=DUE + datetime.timedelta(days=1), only=["payment_reminders"], trigger="test")
        assert run.steps[0].error_count == 0, run.steps[0].errors
    [received] = smtp.messages
    assert received.message["Subject"] == f"Overdue: invoice {invoice.number}"
    assert received.rcpt_tos == [customer.email]
    assert [a.get_content_type() for a in received.message.iter_attachments()] == ["application/pdf"]
    assert OutboundEmail.objects.filter(template="invoice_overdue_first").count() == 1


def test_a_server_that_answers_451_is_retried_with_backoff_then_the_email_waits_as_failed(smtp, customer, settings):
    settings.EMAIL_MAX_ATTEMPTS = 3
    email = _queue(customer)
    smtp.recorder.refuse = "451 4.3.0 Try again later"
    now = timezone.now()
    [outcome] = emails_send([email.pk], now=now)
    email.refresh_from_db()
    assert outcome.result == SendResult.RETRY and email.status == "queued" and email.attempts == 1
    assert "451" in email.last_error
    first_wait = email.next_attempt_at - now
    assert datetime.timedelta(seconds=30) <= first_wait <= datetime.timedelta(seconds=90)  # 60 s, jittered
    assert emails_send([email.pk], now=now) == []  # not due yet: nobody sends it early
    later = email.next_attempt_at
    emails_send([email.pk], now=later)
    email.refresh_from_db()
    assert email.attempts == 2 and email.next_attempt_at - later >= datetime.timedelta(seconds=60)  # 120 s, jittered
    emails_send([email.pk], now=email.next_attempt_at)
    email.refresh_from_db()
    assert email.status == "failed" and email.attempts == 3 and smtp.messages == []
    smtp.recorder.refuse = None
    email_retry(email_id=email.pk, actor=UserFactory(is_staff=True))
    emails_send([email.pk])
    email.refresh_from_db()
    assert email.status == "sent" and len(smtp.messages) == 1


def test_a_550_refusal_fails_at_once(smtp, customer):
    email = _queue(customer)
    smtp.recorder.refuse = "550 5.1.1 No such user"
    [outcome] = emails_send([email.pk])
    email.refresh_from_db()
    assert outcome.result == SendResult.FAILED and email.status == "failed" and "550" in email.last_error


def test_a_server_that_hangs_up_or_is_not_there_is_retried(smtp, customer, settings):
    smtp.recorder.hang_up = True
    email = _queue(customer)
    [outcome] = emails_send([email.pk])
    assert outcome.result == SendResult.RETRY
    settings.EMAIL_PORT = 1  # nothing listens there: connection refused
    [outcome] = emails_send([email.pk], now=outcome.next_attempt_at)
    email.refresh_from_db()
    assert outcome.result == SendResult.RETRY and email.attempts == 2 and "Connection refused" in email.last_error


def test_a_switched_off_template_sends_nothing_and_the_email_is_recorded_as_skipped(smtp, customer):
    template = EmailTemplate.objects.get(name="service_welcome")
    email_template_update(template_id=template.pk, changes={"enabled": False}, reason="too chatty", actor=None)
    email = _queue(customer)
    [outcome] = emails_send([email.pk])
    email.refresh_from_db()
    assert outcome.result == SendResult.SKIPPED and email.status == "skipped" and smtp.messages == []


def test_the_sweep_sends_the_emails_left_queued(smtp, customer, settings):
    settings.EMAIL_SEND_AFTER_COMMIT = False  # as if Redis was down at commit: no task was sent
    emails = [_queue(customer, key=f"test:{n}") for n in range(3)]
    assert email_sweep() == 3
    assert {m.message["Message-ID"] for m in smtp.messages} == {
        e.message_id for e in OutboundEmail.objects.filter(pk__in=[e.pk for e in emails])
    }
    assert email_sweep() == 0 and len(smtp.messages) == 3


def test_a_claim_left_by_a_dead_worker_is_freed_by_the_sweep(customer):
    email = _queue(customer)
    OutboundEmail.objects.filter(pk=email.pk).update(
        status="sending", claimed_at=timezone.now() - stale_claim() + datetime.timedelta(minutes=1)
    )
    assert emails_sweep() == []  # still within what its batch may take: its worker may be sending it
    OutboundEmail.objects.filter(pk=email.pk).update(claimed_at=timezone.now() - stale_claim())
    assert emails_sweep() == [[email.pk]]


def test_sending_a_batch_takes_a_bounded_number_of_queries(smtp, customer, django_assert_max_num_queries):
    ids = [_queue(customer, key=f"batch:{n}").pk for n in range(20)]
    # savepoint, claim (select, update), release, read, templates, and one UPDATE per email as it is sent
    with django_assert_max_num_queries(6 + 20):
        outcomes = emails_send(ids)
    assert {o.result for o in outcomes} == {SendResult.SENT} and len(smtp.messages) == 20


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_sending_one_email_at_once_send_it_once(smtp, customer, settings):
    settings.EMAIL_SEND_AFTER_COMMIT = False  # the four threads below are the only senders
    email = _queue(customer)
    start = threading.Barrier(4)
    results = []

    def send():
        start.wait()
        try:
            results.append(emails_send([email.pk]))
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(len(r) for r in results) == 1
    assert len(smtp.messages) == 1


def test_the_runs_last_step_sends_what_was_left_queued(smtp, customer, settings):
    settings.EMAIL_SEND_AFTER_COMMIT, settings.EMAIL_SWEEP_IN_RUN = False, True
    email = _queue(customer)
    run = automation_run(today=DUE, only=["email_sweep"], trigger="test")
    assert run.steps[0].counts == {"emails handed to sending": 1}
    email.refresh_from_db()
    assert email.status == "sent" and len(smtp.messages) == 1
    assert automation_run(today=DUE, only=["email_sweep"], trigger="test").steps[0].counts == {}

"""The password reset link is a live credential: it arrives in the email, and nothing the portal keeps (the
email's row, its admin page, the client's history) holds it. A reset email that cannot go out at once is failed,
not retried with a link nobody has."""

import pytest
from django.urls import reverse

from notifications.emails.sending import NOT_KEPT, NOT_KEPT_ERROR, email_retry, emails_sweep
from notifications.models import OutboundEmail
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "Ample-Orbit-77"


def _ask(browser, customer):
    response = browser.post(reverse("password_reset"), {"email": customer.email}, REMOTE_ADDR="10.9.0.1")
    assert response.status_code == 302
    return OutboundEmail.objects.get(template="password_reset")


def _stored(email: OutboundEmail) -> str:
    return " ".join([str(email.context), email.subject, email.body_text, email.body_html, email.last_error])


def test_the_link_arrives_works_and_is_kept_nowhere(smtp, client, admin_client, customer):
    email = _ask(client, customer)
    [received] = smtp.messages
    text = received.message.get_body(preferencelist=("plain",)).get_content()
    html = received.message.get_body(preferencelist=("html",)).get_content()
    link = next(line for line in text.splitlines() if "/password/reset/" in line)
    path = link.split("testserver", 1)[1]
    uid, token = path.rstrip("/").split("/")[-2:]
    assert path in html
    email.refresh_from_db()
    assert email.status == OutboundEmail.Status.SENT
    stored = _stored(email)
    assert path not in stored and token not in stored and f"{uid}/" not in stored
    assert email.context["reset_url"] == NOT_KEPT and NOT_KEPT in email.body_text and NOT_KEPT in email.body_html

    # Followed first: logging in (below) changes last_login, which the token is made from.
    form_page = client.get(path, follow=True, REMOTE_ADDR="10.9.0.1")
    done = client.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
        REMOTE_ADDR="10.9.0.1",
    )
    assert done.status_code == 302 and done.url == reverse("password_reset_complete")
    admin_page = admin_client.get(reverse("admin:notifications_outboundemail_change", args=[email.pk]))
    assert admin_page.status_code == 200 and token not in admin_page.content.decode()
    history = client.__class__()
    customer.user.refresh_from_db()  # its new password: a session of the old one is logged out
    history.force_login(customer.user)
    for name in ("clientarea:email_detail", "clientarea:email_html"):
        page = history.get(reverse(name, args=[email.pk]))
        assert page.status_code == 200 and token not in page.content.decode()
        assert NOT_KEPT in page.content.decode()

    customer.user.refresh_from_db()
    assert customer.user.check_password(NEW_PASSWORD)


def test_a_reset_email_the_server_puts_off_is_failed_and_cannot_be_retried(smtp, client, customer):
    smtp.recorder.refuse = "451 4.3.0 Try again later"
    email = _ask(client, customer)
    email.refresh_from_db()
    assert email.status == OutboundEmail.Status.FAILED and NOT_KEPT_ERROR in email.last_error
    with pytest.raises(Exception, match="cannot be retried"):
        email_retry(email_id=email.pk, actor=UserFactory(is_staff=True))


def test_a_reset_email_left_queued_is_failed_by_the_sweep_not_sent_without_its_link(smtp, customer):
    from notifications.emails.sending import emails_send
    from notifications.services import email_queue

    email, _ = email_queue(
        template="password_reset",
        to_address=customer.email,
        idempotency_key="password_reset:left",
        context={"username": "ada", "reset_url": NOT_KEPT},
        after_commit=False,
    )
    [batch] = emails_sweep()
    emails_send(batch)
    email.refresh_from_db()
    assert email.status == OutboundEmail.Status.FAILED and email.last_error == NOT_KEPT_ERROR
    assert smtp.messages == []

"""The password reset email goes through the portal's email templates ("password_reset") and history, instead
of Django's own template, and is sent at once, in the request, so the link arrives while the client waits.

The link is a live credential: it is never stored. The email's context and the bodies kept for the history hold
NOT_KEPT instead, and the link itself is handed to the send only (notifications.emails.sending.emails_send's
`unkept`), so no staff page and no history shows it. An email that the mail server puts off cannot be retried with
it: it is recorded failed, and the user asks for a new link (the page tells everyone to check their inbox)."""

from __future__ import annotations

import uuid

from django.urls import reverse

from billing.models import Client
from core.auth import ThrottledPasswordResetForm
from notifications.emails.sending import NOT_KEPT, emails_send
from notifications.services import email_queue


class EmailedPasswordResetForm(ThrottledPasswordResetForm):
    def send_mail(self, subject_template_name, email_template_name, context, from_email, to_email, **kwargs):
        user = context["user"]
        path = reverse("password_reset_confirm", kwargs={"uidb64": context["uid"], "token": context["token"]})
        email, _created = email_queue(
            template="password_reset",
            to_address=to_email,
            # Each request is its own email (the throttle in core.auth limits them), so the key is new each time.
            idempotency_key=f"password_reset:{user.pk}:{uuid.uuid4().hex}",
            context={"username": user.get_username(), "reset_url": NOT_KEPT},
            client_id=Client.objects.filter(user=user).values_list("pk", flat=True).first(),
            after_commit=False,  # a task would not have the link: it is sent here, with it
        )
        emails_send([email.pk], unkept={email.pk: {"reset_url": f"{context['protocol']}://{context['domain']}{path}"}})

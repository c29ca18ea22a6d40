"""The password reset email goes through the portal's email templates ("password_reset") and history, instead
of Django's own template: the form queues it like every other email and sends it at once, in the request, so
the link arrives while the client waits (a mail server that fails for now leaves it to the retries)."""

from __future__ import annotations

import uuid

from django.urls import reverse

from billing.models import Client
from core.auth import ThrottledPasswordResetForm
from notifications.emails.sending import emails_send
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
            context={
                "username": user.get_username(),
                "reset_url": f"{context['protocol']}://{context['domain']}{path}",
            },
            client_id=Client.objects.filter(user=user).values_list("pk", flat=True).first(),
        )
        emails_send([email.pk])

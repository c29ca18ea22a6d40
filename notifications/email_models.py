"""The email templates: one row per template the portal sends, editable by an admin through
notifications.emails.templates (reason required, audited). Notifications' models like those in notifications.models
(which imports them, so Django registers them there); apart so the three reaction kinds don't share one file."""

from django.db import models
from django.utils import timezone


class EmailTemplate(models.Model):
    """Subject, HTML and text in Django template syntax over the plain values of its event's context (the
    variables notifications.emails.catalog declares for it). Switched off (`enabled` false): its emails are
    recorded as skipped, not sent."""

    name = models.CharField(max_length=64, unique=True)
    event = models.CharField(max_length=64, blank=True, help_text="The event this email goes with (blank: none).")
    description = models.CharField(max_length=200, blank=True)
    subject = models.CharField(max_length=250)
    body_html = models.TextField("HTML body")
    body_text = models.TextField("text body")
    enabled = models.BooleanField(default=True, help_text="Switched off: its emails are skipped, not sent.")
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        permissions = [("test_emailtemplate", "Can preview an email template on sample data")]

    def __str__(self) -> str:
        return self.name

"""The email history: a client's emails, newest first, for the client area and the admin's client page."""

from __future__ import annotations

from django.db.models import QuerySet

from notifications.models import OutboundEmail

# What a client sees of their emails: those that left (queued, failed or skipped ones never reached them).
SEEN_BY_CLIENT = (OutboundEmail.Status.SENT,)


def client_emails(client_id: int) -> QuerySet[OutboundEmail]:
    """Every email of the client (the admin's view), newest first; the bodies are left unread."""
    return (
        OutboundEmail.objects.filter(client_id=client_id)
        .defer("body_text", "body_html", "context")
        .order_by("-created_at", "-id")
    )


def client_sent_emails(client_id: int) -> QuerySet[OutboundEmail]:
    """The emails the client received, for their history page: subject and date, newest first."""
    return (
        OutboundEmail.objects.filter(client_id=client_id, status__in=SEEN_BY_CLIENT)
        .only("pk", "subject", "sent_at", "created_at", "to_address")
        .order_by("-created_at", "-id")  # the client's index; an email is sent moments after it is queued
    )


def client_email(client_id: int, email_id: int) -> OutboundEmail | None:
    """One email the client received, or None (another client's, or one that never left)."""
    return OutboundEmail.objects.filter(pk=email_id, client_id=client_id, status__in=SEEN_BY_CLIENT).first()

"""What happens to an endpoint without an admin: the system switches it off when the receiver says it is gone
(410) or after every delivery failed for WEBHOOKS_DISABLE_AFTER_DAYS. The change is audited like an admin's (actor
"system", the reason says why), written to the activity log, and admins are told by mail_admins (settings.ADMINS;
nothing is sent when it is empty). Pending deliveries of a disabled endpoint fail when their turn comes."""

from __future__ import annotations

import logging

from django.core.mail import mail_admins
from django.db import transaction
from django.utils import timezone

from notifications.audit import audit_record
from notifications.services import Actor, activity_record
from notifications.webhook_models import WebhookEndpoint
from notifications.webhooks.endpoints import endpoints_changed

logger = logging.getLogger("notifications.webhooks")

SYSTEM_REASONS = {
    WebhookEndpoint.DisabledReason.GONE: "The receiver answered 410 Gone: it asked for no more deliveries.",
    WebhookEndpoint.DisabledReason.FAILING: "Every delivery to it failed for too long.",
}


def endpoint_switch(
    *, endpoint_id: int, active: bool, why: str, actor: Actor, reason: str, action: str = "changed"
) -> WebhookEndpoint | None:
    """Set an endpoint's active flag (why: a DisabledReason value when switching off), audited. Returns the
    endpoint, or None when it was already so (nothing written)."""
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().filter(pk=endpoint_id).first()
        if endpoint is None or (endpoint.active == active and (active or endpoint.disabled_reason == why)):
            return None
        before = {"active": endpoint.active, "disabled_reason": endpoint.disabled_reason}
        endpoint.active = active
        endpoint.disabled_reason = "" if active else why
        endpoint.failing_since = None if active else endpoint.failing_since
        endpoint.updated_at = timezone.now()
        endpoint.save(update_fields=["active", "disabled_reason", "failing_since", "updated_at"])
        audit_record(
            actor=actor,
            subject=endpoint,
            action=action,
            reason=reason,
            before=before,
            after={"active": endpoint.active, "disabled_reason": endpoint.disabled_reason},
        )
        endpoints_changed()
        transaction.on_commit(endpoints_changed)
    return endpoint


def endpoint_disable_by_system(*, endpoint_id: int, why: str) -> None:
    reason = SYSTEM_REASONS[why]
    endpoint = endpoint_switch(
        endpoint_id=endpoint_id, active=False, why=why, actor=None, reason=reason, action="disabled"
    )
    if endpoint is None:
        return
    message = f"Webhook endpoint {endpoint.url} (#{endpoint.pk}) was disabled. {reason}"
    activity_record(actor=None, action="webhook_endpoint_disabled", subject=endpoint, message=message)
    logger.warning(message)
    mail_admins(
        subject=f"Webhook endpoint #{endpoint.pk} disabled",
        message=f"{message}\nSwitch it on again in the admin once the receiver is fixed.",
        fail_silently=True,
    )

"""The webhook endpoints in the trigger map: for each event, the endpoints subscribed to it (all-events endpoints
under every event), inactive ones with enabled=False. One query for all events."""

from __future__ import annotations

from notifications.events import EVENTS
from notifications.reactions import Reaction, reaction_source
from notifications.webhook_models import WebhookEndpoint


@reaction_source("webhooks")
def webhook_reactions() -> dict[str, list[Reaction]]:
    by_event: dict[str, list[Reaction]] = {}
    for endpoint in WebhookEndpoint.objects.order_by("id").only(
        "id", "url", "all_events", "events", "active", "disabled_reason"
    ):
        names = list(EVENTS) if endpoint.all_events else [name for name in endpoint.events if name in EVENTS]
        detail = "all events" if endpoint.all_events else ""
        if not endpoint.active:
            detail = ", ".join(part for part in (detail, endpoint.get_disabled_reason_display() or "disabled") if part)
        for name in names:
            by_event.setdefault(name, []).append(
                Reaction(kind="webhook", name=endpoint.url, enabled=endpoint.active, detail=detail, order=endpoint.pk)
            )
    return by_event

"""The webhook endpoints in the trigger map: for each event, the endpoints subscribed to it (all-events endpoints
under every event), inactive ones with enabled=False. One query for all events. The reactions name an endpoint by
its full URL (the `manage.py trigger_map` command, run by ops, prints it); the admin page shows staff without the
view permission on endpoints only `url_shown`, as an endpoint's query string or user info may carry a token."""

from __future__ import annotations

import dataclasses
from urllib.parse import urlsplit, urlunsplit

from notifications.events import EVENTS
from notifications.reactions import EventReactions, Reaction, reaction_source
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


def url_shown(url: str) -> str:
    """The URL without its query string, fragment and user info: scheme, host, port and path."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))


def webhook_urls_shortened(entries: list[EventReactions]) -> list[EventReactions]:
    """The trigger map with each webhook reaction named by `url_shown` (for staff who may not view endpoints)."""
    return [
        dataclasses.replace(
            entry,
            reactions=[
                dataclasses.replace(reaction, name=url_shown(reaction.name)) if reaction.kind == "webhook" else reaction
                for reaction in entry.reactions
            ],
        )
        for entry in entries
    ]

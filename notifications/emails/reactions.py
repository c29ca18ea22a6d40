"""The trigger map's email reactions: each event's templates, read in one query."""

from __future__ import annotations

from notifications.models import EmailTemplate
from notifications.reactions import Reaction, reaction_source


@reaction_source("emails")
def email_reactions() -> dict[str, list[Reaction]]:
    by_event: dict[str, list[Reaction]] = {}
    for name, event, enabled, description in EmailTemplate.objects.exclude(event="").values_list(
        "name", "event", "enabled", "description"
    ):
        by_event.setdefault(event, []).append(
            Reaction(
                kind="email",
                name=name,
                enabled=enabled,
                detail=description if enabled else "switched off by an admin",
            )
        )
    return by_event

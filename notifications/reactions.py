"""What reacts to each event, for the trigger map: one list per event, in the order things run.

The internal handlers come from the dispatch registry. Every other kind of reaction (pre-hooks, after-commit
hooks from packages, email templates, webhook endpoints) is contributed by a source registered here with
`reaction_source`, which reads its registry or its rows for all events at once (a few queries, never one per
event). The trigger map command and the admin page print `trigger_map()`, so the map is generated from what
runs and cannot drift from it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from notifications.dispatch import all_registrations
from notifications.events import EVENTS
from notifications.hook_models import switched_off

# How the map lists them. Pre-hooks run inside the action, before it commits. After commit the handlers and hooks
# run one after another by priority (one list, whichever kind); the emails (queued by the action's service) and the
# webhook deliveries (written with the event) are sent on queues of their own, beside the handlers, not after them.
KIND_ORDER = ("pre-hook", "handler", "hook", "email", "webhook")
_RANK = {"pre-hook": 0, "handler": 1, "hook": 1, "email": 2, "webhook": 3}


@dataclass(frozen=True)
class Reaction:
    kind: str  # one of KIND_ORDER
    name: str  # a dotted handler path, a template's name, an endpoint's URL
    enabled: bool = True
    detail: str = ""  # e.g. "priority 50", "switched off by an admin", "all events"
    order: int = 100  # within its kind (a handler's priority)


ReactionSource = Callable[[], dict[str, list[Reaction]]]

_sources: dict[str, ReactionSource] = {}


def reaction_source(name: str) -> Callable[[ReactionSource], ReactionSource]:
    """Decorator: `source()` returns {event name: [Reaction, ...]} for the events it reacts to."""

    def decorator(source: ReactionSource) -> ReactionSource:
        _sources[name] = source
        return source

    return decorator


@dataclass(frozen=True)
class EventReactions:
    name: str
    description: str
    reactions: list[Reaction] = field(default_factory=list)


def _handlers() -> dict[str, list[Reaction]]:
    """The project's own handlers (the hook packages' are listed by notifications.hooks), switched-off ones
    marked, in one query."""
    off = switched_off(EVENTS)
    return {
        name: [
            Reaction(
                kind="handler",
                name=r.dotted_name,
                enabled=(name, r.dotted_name) not in off,
                detail=f"priority {r.priority}"
                + ("" if (name, r.dotted_name) not in off else ", switched off by an admin"),
                order=r.priority,
            )
            for r in registrations
            if not r.package
        ]
        for name, registrations in all_registrations().items()
    }


def trigger_map() -> list[EventReactions]:
    """Every event in the catalog with everything that reacts to it: pre-hooks, then the handlers and hooks in the
    order dispatch runs them (by priority), then the email templates and the webhook endpoints."""
    by_event: dict[str, list[Reaction]] = {name: [] for name in EVENTS}
    for source in [_handlers, *_sources.values()]:
        for event_name, reactions in source().items():
            by_event.setdefault(event_name, []).extend(reactions)
    return [
        EventReactions(
            name=name,
            description=EVENTS.get(name, "(not in the catalog)"),
            reactions=sorted(reactions, key=lambda r: (_RANK.get(r.kind, len(_RANK)), r.order, r.name)),
        )
        for name, reactions in by_event.items()
    ]

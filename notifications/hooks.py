"""Pre-hooks: code that runs inside an action, before it commits, and may refuse it with a reason.

A hook is `@pre_hook("ShoppingCartValidateCheckout")` on `func(event: PreEvent)`; it refuses by raising
`Veto("reason")`. The action calls `pre(event_name, **payload)` before it writes anything: the hooks run in
priority order (lower first) and the first veto propagates. `Veto` is a ValidationError, so the views and the admin
that already show a refusal's messages show the reason, and the action's transaction rolls back (or never writes).
A hook that crashes is logged and the action goes on (as after-commit hooks: a provider's fault must not take the
checkout down). A hook an admin switched off for the event (HookSwitch) is skipped.

Hooks come from the apps and from the packages named in PORTAL_HOOK_PACKAGES, imported by notifications' ready()
(`load_hook_packages`), whose @pre_hook and @register calls add them. Their payloads are checked against the
catalog like emit()'s."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from notifications.dispatch import all_registrations, hook_package_of
from notifications.events import EVENTS, payload_check
from notifications.hook_models import HookSwitch, switched_off
from notifications.reactions import Reaction, reaction_source

logger = logging.getLogger("notifications.hooks")


@dataclass(frozen=True)
class PreEvent:
    """What a pre-hook gets: the event's name and its payload of plain values (as an after-commit Event has)."""

    name: str
    payload: dict[str, Any]


PreHookFunc = Callable[[PreEvent], None]


class Veto(ValidationError):
    """A pre-hook refused the action. `reason` is shown to the admin or the client; `hook` names who refused."""

    def __init__(self, reason: str, *, hook: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.hook = hook


@dataclass(frozen=True)
class PreHook:
    event_name: str
    priority: int
    func: PreHookFunc
    package: str = ""

    @property
    def dotted_name(self) -> str:
        return f"{self.func.__module__}.{self.func.__qualname__}"


_pre_hooks: dict[str, list[PreHook]] = {}


def pre_hook(event_name: str, *, priority: int = 100) -> Callable[[PreHookFunc], PreHookFunc]:
    """Decorator: run `func(PreEvent)` inside every `pre(event_name, ...)`, before the action writes."""
    if event_name not in EVENTS:
        raise ValueError(f"Unknown event {event_name!r}: add it to notifications.events.CATALOG first.")

    def decorator(func: PreHookFunc) -> PreHookFunc:
        hooks = _pre_hooks.setdefault(event_name, [])
        if not any(h.func is func for h in hooks):
            hooks.append(PreHook(event_name, priority, func, hook_package_of(func.__module__)))
            hooks.sort(key=lambda h: (h.priority, h.dotted_name))
        return func

    return decorator


def unregister_pre_hook(event_name: str, func: PreHookFunc) -> None:
    _pre_hooks[event_name] = [h for h in _pre_hooks.get(event_name, []) if h.func is not func]


def pre_hooks_for(event_name: str) -> list[PreHook]:
    return list(_pre_hooks.get(event_name, []))


def pre(event_name: str, **payload: Any) -> None:
    """Run the event's pre-hooks in order; raise the first Veto. No hook: no query."""
    payload_check(event_name, payload)
    hooks = _pre_hooks.get(event_name)
    if not hooks:
        return
    off = switched_off([event_name])
    event = PreEvent(event_name, payload)
    for hook in hooks:
        if (event_name, hook.dotted_name) in off:
            continue
        try:
            with transaction.atomic():  # a hook's database fault must not break the action's transaction
                hook.func(event)
        except Veto as veto:
            logger.info("Pre-hook %s refused %s: %s", hook.dotted_name, event_name, veto.reason)
            raise Veto(veto.reason, hook=hook.dotted_name) from None
        except Exception:
            logger.exception("Pre-hook %s failed on %s; the action goes on.", hook.dotted_name, event_name)


def load_hook_packages() -> None:
    """Import every module named in PORTAL_HOOK_PACKAGES (at notifications' ready()). A name that does not import
    fails start-up: a provider's hooks silently missing would be worse."""
    for name in settings.PORTAL_HOOK_PACKAGES:
        importlib.import_module(name)


@reaction_source("hooks")
def hook_reactions() -> dict[str, list[Reaction]]:
    """For the trigger map: pre-hooks and the hook packages' after-commit hooks, switched-off ones marked (one
    query). The project's own handlers are listed by notifications.reactions."""
    off = set(HookSwitch.objects.filter(enabled=False).values_list("event_name", "handler"))
    by_event: dict[str, list[Reaction]] = {}
    for name, hooks in _pre_hooks.items():
        for hook in hooks:
            by_event.setdefault(name, []).append(_reaction("pre-hook", hook, off))
    for name, registrations in all_registrations().items():
        for registration in registrations:
            if registration.package:
                by_event.setdefault(name, []).append(_reaction("hook", registration, off))
    return by_event


def _reaction(kind: str, hook, off: set[tuple[str, str]]) -> Reaction:
    enabled = (hook.event_name, hook.dotted_name) not in off
    detail = f"priority {hook.priority}" + (f", from {hook.package}" if hook.package else "")
    if not enabled:
        detail += ", switched off by an admin"
    return Reaction(kind=kind, name=hook.dotted_name, enabled=enabled, detail=detail, order=hook.priority)

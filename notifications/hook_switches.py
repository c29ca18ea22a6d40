"""Switching a hook off (or on again) for one event: the only writer of HookSwitch. A reason is required and every
change lands in the audit (notifications.audit)."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from notifications.audit import audit_record, reason_clean
from notifications.dispatch import all_registrations
from notifications.hook_models import HookSwitch
from notifications.hooks import pre_hooks_for
from notifications.services import Actor


@dataclass(frozen=True)
class KnownHook:
    event_name: str
    handler: str  # dotted path
    kind: str  # "pre-hook", "handler" (the project's) or "hook" (a hook package's)


def known_hooks() -> list[KnownHook]:
    """Every hook that can be switched, in the order the trigger map lists them."""
    hooks = []
    for name, registrations in all_registrations().items():
        hooks += [KnownHook(name, h.dotted_name, "pre-hook") for h in pre_hooks_for(name)]
        hooks += [KnownHook(name, r.dotted_name, r.kind) for r in registrations]
    return hooks


@dataclass(frozen=True)
class HookSwitchChange:
    switch: HookSwitch | None  # None: the hook was on, had no switch, and stays on
    changed: bool


def hook_switch_set(*, event_name: str, handler: str, enabled: bool, reason: str, actor: Actor) -> HookSwitchChange:
    """Switch `handler` on or off for `event_name`. Refused (ValidationError) without a reason, or for a hook that
    is not registered for that event and has no switch yet. A change to what it already is writes nothing."""
    reason = reason_clean(reason)
    with transaction.atomic():
        switch = HookSwitch.objects.select_for_update().filter(event_name=event_name, handler=handler).first()
        # A switch made before stays changeable when its hook is gone (its package removed); a new one needs a hook.
        if switch is None and not any(h.event_name == event_name and h.handler == handler for h in known_hooks()):
            raise ValidationError({"handler": f"{handler} is not a hook of {event_name}."})
        if switch is None:
            if enabled:
                return HookSwitchChange(switch=None, changed=False)
            switch = HookSwitch.objects.create(event_name=event_name, handler=handler, enabled=False)
            before = {"enabled": True}
        elif switch.enabled == enabled:
            return HookSwitchChange(switch=switch, changed=False)
        else:
            before = {"enabled": switch.enabled}
            switch.enabled, switch.updated_at = enabled, timezone.now()
            switch.save(update_fields=["enabled", "updated_at"])
        audit_record(
            actor=actor,
            subject=switch,
            action="switched on" if enabled else "switched off",
            reason=reason,
            before=before,
            after={"enabled": enabled},
        )
    return HookSwitchChange(switch=switch, changed=True)

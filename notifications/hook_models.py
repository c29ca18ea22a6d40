"""Hook switches: an admin turns one hook (an after-commit handler of the project or of a hook package, or a
pre-hook) off for one event. Changed only through notifications.hook_switches (a reason, and the audit)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class HookSwitch(models.Model):
    """No row: the hook is on. A row says whether it is on; it is kept when switched back on, with its audit."""

    event_name = models.CharField(max_length=64)
    handler = models.CharField(max_length=200, help_text="The hook's dotted path, as the trigger map lists it.")
    enabled = models.BooleanField(default=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "notifications"
        constraints = [models.UniqueConstraint(fields=["event_name", "handler"], name="hook_switch_once_per_hook")]
        # Rows are made and changed by the service only (never deleted: the audit names them).
        default_permissions = ("view", "change")
        ordering = ["event_name", "handler"]
        verbose_name = "hook switch"
        verbose_name_plural = "hook switches"

    def __str__(self) -> str:
        return f"{self.handler} on {self.event_name}: {'on' if self.enabled else 'off'}"


def switched_off(event_names) -> set[tuple[str, str]]:
    """(event name, handler) of every hook switched off for these events, in one query."""
    return set(
        HookSwitch.objects.filter(event_name__in=set(event_names), enabled=False).values_list("event_name", "handler")
    )

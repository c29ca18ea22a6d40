"""What a server sync found (provisioning.sync): kept for admins to read, one row per server and sync."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class ServerSyncReport(models.Model):
    """One comparison of a server's accounts (its module's list_accounts) with the services the portal has on it.
    `unknown_accounts`: accounts on the server no service knows ([{"username", "service_id", "domain"}]);
    `missing_accounts`: Active or Suspended services on the server whose account is not there
    ([{"service_id", "username"}]). `error` says why the server could not be read (nothing else is then known)."""

    server = models.ForeignKey("provisioning.Server", on_delete=models.CASCADE, related_name="sync_reports")
    checked_at = models.DateTimeField(default=timezone.now)
    ok = models.BooleanField(default=True, help_text="The server answered; false: see the error.")
    error = models.TextField(blank=True)
    accounts_on_server = models.PositiveIntegerField(default=0)
    services_checked = models.PositiveIntegerField(default=0)
    unknown_accounts = models.JSONField(default=list, blank=True)
    missing_accounts = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-checked_at", "-id"]
        indexes = [models.Index(fields=["server", "checked_at"], name="serversyncreport_server_at")]

    def __str__(self) -> str:
        return f"Sync of server #{self.server_id} at {self.checked_at:%Y-%m-%d %H:%M}"

    @property
    def clean(self) -> bool:
        return self.ok and not self.unknown_accounts and not self.missing_accounts

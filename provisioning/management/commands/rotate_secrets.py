"""Re-encrypt every secret stored at rest with the first key of PORTAL_ENCRYPTION_KEYS: server credentials,
registrar secrets, account passwords, module call parameters, transfer EPP codes and webhook secrets. Rotate a key
by putting the new one first, running this, and then removing the old one."""

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from core import crypto
from notifications.webhook_models import WebhookEndpoint
from provisioning.models import Domain, ModuleCall, RegistrarConfig, Server, Service

STORED = [
    (Server, "credentials_token"),
    (RegistrarConfig, "credentials_token"),
    (Service, "password_token"),
    (ModuleCall, "params_token"),
    (Domain, "epp_code_token"),
    (WebhookEndpoint, "secret_token"),
]
BATCH = 1000


class Command(BaseCommand):
    help = "Re-encrypt every stored secret with the first key of PORTAL_ENCRYPTION_KEYS."

    def handle(self, *args, **options):
        for model, column in STORED:
            done, after = 0, 0
            while True:
                with transaction.atomic():
                    rows = list(
                        model.objects.select_for_update()
                        .filter(pk__gt=after)
                        .exclude(**{column: ""})
                        .order_by("pk")
                        .values_list("pk", column)[:BATCH]
                    )
                    if not rows:
                        break
                    for pk, token in rows:
                        try:
                            model.objects.filter(pk=pk).update(**{column: crypto.rotate(token)})
                        except crypto.SecretUnreadable as error:
                            raise CommandError(f"{model._meta.label} #{pk}: {error}") from None
                    done += len(rows)
                    after = rows[-1][0]
            self.stdout.write(f"{model._meta.verbose_name_plural}: {done} re-encrypted")

"""manage.py webhook_add URL [--event NAME ...]: create a webhook endpoint (all events without --event) and print
its id and its secret, the only time the secret is shown."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from notifications.webhooks.services import endpoint_create

DEFAULT_REASON = "created from the command line"


class Command(BaseCommand):
    help = "Create a webhook endpoint; prints id=<id> and secret=<secret>."

    def add_arguments(self, parser):
        parser.add_argument("url")
        parser.add_argument("--event", action="append", dest="events", metavar="NAME", help="repeat for more")
        parser.add_argument("--description", default="")
        parser.add_argument("--reason", default=DEFAULT_REASON, help="kept in the audit")

    def handle(self, *args, url: str, events: list[str] | None, description: str, reason: str, **options):
        try:
            created = endpoint_create(
                url=url,
                events=events or [],
                all_events=not events,
                description=description,
                actor=None,
                reason=reason,
            )
        except ValidationError as refused:
            raise CommandError(" ".join(refused.messages)) from None
        self.stdout.write(f"id={created.endpoint.pk}")
        self.stdout.write(f"secret={created.secret}")

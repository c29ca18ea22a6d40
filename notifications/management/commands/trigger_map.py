from django.core.management.base import BaseCommand

from notifications.bus import all_registrations
from notifications.events import EVENTS


class Command(BaseCommand):
    help = "List every named event and the handlers that react to it, in the order they run."

    def handle(self, *args, **options) -> None:
        for name, registrations in all_registrations().items():
            self.stdout.write(f"{name}: {EVENTS[name]}")
            if not registrations:
                self.stdout.write("    (no handlers)")
            for registration in registrations:
                self.stdout.write(f"    {registration.priority:>4}  {registration.dotted_name}")

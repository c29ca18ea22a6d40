from django.core.management.base import BaseCommand

from notifications.reactions import trigger_map


class Command(BaseCommand):
    help = (
        "List every named event and everything that reacts to it: pre-hooks (inside the action), the handlers "
        "and hooks in the order dispatch runs them, then the email templates and webhook endpoints (sent on their "
        "own queues). Switched-off reactions are marked."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--only-reacting", action="store_true", help="Leave out events nothing reacts to.")

    def handle(self, *args, **options) -> None:
        for entry in trigger_map():
            if options["only_reacting"] and not entry.reactions:
                continue
            self.stdout.write(f"{entry.name}: {entry.description}")
            if not entry.reactions:
                self.stdout.write("    (nothing reacts)")
            for reaction in entry.reactions:
                state = "" if reaction.enabled else "  [OFF]"
                detail = f"  ({reaction.detail})" if reaction.detail else ""
                self.stdout.write(f"    {reaction.kind:<9} {reaction.name}{detail}{state}")

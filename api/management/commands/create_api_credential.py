"""manage.py create_api_credential NAME [--read-only] [--client ID] [--allow-ip ADDRESS ...]

Prints `identifier=...` and `secret=...` on two lines. The secret is shown this once: only its hash is kept."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from api.services import api_credential_create


class Command(BaseCommand):
    help = "Create an API credential and print its identifier and secret (the secret is shown once)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("name")
        parser.add_argument("--read-only", action="store_true", help="read every area, change nothing")
        parser.add_argument("--client", type=int, help="see only this client's objects (its id)")
        parser.add_argument("--allow-ip", action="append", default=[], help="an address or network it may call from")

    def handle(self, *args, name: str, read_only: bool, client: int | None, allow_ip: list[str], **options) -> None:
        try:
            made = api_credential_create(
                name=name, actor=None, read_only=read_only, client_id=client, allowed_ips=allow_ip
            )
        except ValidationError as refused:
            raise CommandError(" ".join(refused.messages)) from None
        self.stdout.write(f"identifier={made.credential.identifier}")
        self.stdout.write(f"secret={made.secret}")

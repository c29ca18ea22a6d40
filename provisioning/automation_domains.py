"""The automation run's registrar step: ask each domain's registrar, once a day, what the registry holds (its
expiry date and status; a transfer in progress, whether it completed or failed). The calls go through the module
queue like every registrar call, in batches; their outcomes (queue.registrar_effects) make the registrar's answer
the domain's, log every change, and stop billing a domain the registrar no longer holds for us."""

from __future__ import annotations

from django.db import transaction

from automation.registry import StepContext, automation_step
from provisioning.models import Domain
from provisioning.queue.requests import domain_action_key, registrar_calls_request_many
from provisioning.registrars import registry
from provisioning.registrars.base import RegistrarAction

SYNC_BATCH = 1000
# What each action follows: registered domains (and those waiting for their registration), transfers in.
SYNCED = {
    RegistrarAction.SYNC: (
        Domain.Status.ACTIVE,
        Domain.Status.EXPIRED,
        Domain.Status.PENDING_REGISTRATION,
    ),
    RegistrarAction.TRANSFER_SYNC: (Domain.Status.PENDING_TRANSFER,),
}


def domains_to_sync(action: RegistrarAction):
    """Domains of these statuses whose registrar offers `action` (the Manual one does not: nothing to ask)."""
    offering = [name for name in registry.names() if action in registry.registrar_class(name).actions]
    return Domain.objects.filter(status__in=SYNCED[action], registrar__in=offering)


@automation_step(
    "domain_sync",
    order=170,
    description="Ask each domain's registrar what the registry holds (expiry date and status, a transfer's "
    "progress), once a day per domain; the registrar's answer wins.",
)
def sync_domains(context: StepContext) -> None:
    nonce = f"sync-{context.today.isoformat()}"
    for action, noun in ((RegistrarAction.SYNC, "domain syncs"), (RegistrarAction.TRANSFER_SYNC, "transfer syncs")):
        targets = list(domains_to_sync(action).order_by("pk").values_list("pk", "registrar"))
        if context.dry_run:
            if targets:
                context.say(f"{len(targets)} {noun} would be asked")
            continue

        def batch_request(batch: list[tuple[int, str]], action: RegistrarAction = action) -> int:
            calls = [(pk, registrar, domain_action_key(pk, action, nonce), {}) for pk, registrar in batch]
            with transaction.atomic():
                return len(registrar_calls_request_many(calls=calls, action=action, actor=None))

        for _batch, asked in context.each_batch(targets, SYNC_BATCH, batch_request):
            context.count(f"{noun} asked", asked)

"""The automation run's registrar steps. First, read the message queue of each registrar account that sends
messages (EPP poll: transfers approved, refused, domains transferred away), one task per configuration
(queue.registrar_poll). Then ask each domain's registrar, once a day, what the registry holds (its expiry date and
status; a transfer in progress, whether it completed or failed): the fallback for a registry that sends no
messages, or a message read elsewhere. The calls go through the module queue like every registrar call, in
batches; their outcomes (queue.registrar_effects) make the registrar's answer the domain's, log every change, and
stop billing a domain the registrar no longer holds for us. A poll and a query that meet the same transfer apply it
once: each looks at the domain's status under its lock."""

from __future__ import annotations

from django.db import transaction

from automation.registry import StepContext, automation_step
from provisioning.models import Domain
from provisioning.queue.requests import (
    domain_action_key,
    polling_configs,
    registrar_calls_request_many,
    registrar_polls_request,
)
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
    "registrar_poll",
    order=168,
    description="Read the message queue of each registrar configuration whose registrar sends messages (EPP "
    "poll): transfers in approved or refused, domains transferred away. One task per configuration.",
)
def poll_registrars(context: StepContext) -> None:
    if context.dry_run:  # a dry run is rolled back: a task sent from it could not run
        configs = list(polling_configs().order_by("name").values_list("name", flat=True))
        if configs:
            context.say(f"the message queue of {', '.join(configs)} would be read")
        return
    with transaction.atomic():
        context.count("registrar polls asked", len(registrar_polls_request()))


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

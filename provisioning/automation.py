"""Provisioning's steps of the automation run (see notifications.scheduler)."""

from __future__ import annotations

from django.db import transaction

from notifications.scheduler import StepContext, automation_step, in_batches
from provisioning.models import Domain
from provisioning.services import domain_expire

BATCH_SIZE = 500


@automation_step("domain_expiry", order=90, description="Active domains whose expiry date has passed become Expired.")
def expire_domains(context: StepContext) -> None:
    # A domain expiring on the 10th is still the client's on the 10th: it expires on the run of the 11th.
    due = Domain.objects.filter(status=Domain.Status.ACTIVE, expiry_date__lt=context.today)
    ids = list(due.order_by("id").values_list("id", flat=True))
    for done, batch in enumerate(in_batches(ids, BATCH_SIZE)):
        with transaction.atomic():
            # Checked again under the lock: a renewal paid meanwhile moved the expiry date.
            locked = due.filter(pk__in=batch).select_for_update(skip_locked=True).order_by("id")
            for domain in locked:
                if domain_expire(domain=domain, actor=None):
                    context.count("domains expired")
                    context.say(f"{domain.name} (client #{domain.client_id}) expired on {domain.expiry_date}")
        context.progress(min((done + 1) * BATCH_SIZE, len(ids)), len(ids))

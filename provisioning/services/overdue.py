"""Overdue services: suspended when an invoice is late, unsuspended when it is paid, terminated when it stays
unpaid."""

from __future__ import annotations

import datetime

from django.db import transaction
from django.utils import timezone

from automation.models import AutomationSettings
from billing.models import InvoiceItem
from notifications.services import (
    Actor,
)
from provisioning.models import Service
from provisioning.selectors import overdue_service_lines
from provisioning.services.common import services_move_many


def services_suspend_overdue(*, service_ids: list[int], actor: Actor) -> list[int]:
    """Active services on an invoice overdue beyond the settings' days: Suspended, reason overdue."""
    return services_move_many(
        service_ids,
        "suspend",
        {"reason": Service.SuspensionReason.OVERDUE},
        action="service_suspended",
        event="ServiceSuspended",
        says=" suspended: overdue on payment",
        actor=actor,
        email="service_suspended" if AutomationSettings.load().suspend_email else None,
    )


def services_unsuspend_paid(*, service_ids: list[int], actor: Actor) -> list[int]:
    """Services suspended for being overdue whose overdue invoices are settled: Active again. A suspension for
    any other reason (abuse, an admin's) is never lifted by a payment."""
    if not service_ids:  # most payments: nothing of theirs was suspended
        return []
    overdue_suspended = Service.objects.filter(
        pk__any=service_ids, suspension_reason=Service.SuspensionReason.OVERDUE
    ).values_list("pk", flat=True)
    return services_move_many(
        list(overdue_suspended),
        "unsuspend",
        {},
        action="service_unsuspended",
        event="ServiceUnsuspended",
        says=" unsuspended: the overdue invoice is settled",
        actor=actor,
        email="service_unsuspended",
    )


def services_unsuspend_after_payment(*, invoice_id: int, today: datetime.date | None = None) -> list[int]:
    """The InvoicePaid reaction: the invoice's services suspended for being overdue are lifted, unless another
    of their invoices is still overdue beyond the suspension days. Returns the ids lifted."""
    settings = AutomationSettings.load()
    if not settings.unsuspend_on_payment:
        return []
    cutoff = (today or timezone.localdate()) - datetime.timedelta(days=settings.suspend_after_days)
    billed = InvoiceItem.objects.filter(invoice_id=invoice_id, kind=InvoiceItem.Kind.SERVICE).values("related_id")
    still_overdue = overdue_service_lines(cutoff=cutoff).values("related_id")
    with transaction.atomic():
        ids = list(
            Service.objects.select_for_update()
            .filter(pk__in=billed, status=Service.Status.SUSPENDED, suspension_reason=Service.SuspensionReason.OVERDUE)
            .exclude(pk__in=still_overdue)
            .values_list("pk", flat=True)
        )
        return services_unsuspend_paid(service_ids=ids, actor=None)


def services_terminate_overdue(*, service_ids: list[int], on: datetime.date, actor: Actor) -> list[int]:
    """Active or suspended services on an invoice overdue beyond the termination days: Terminated."""
    return services_move_many(
        service_ids,
        "terminate",
        {"on": on},
        action="service_terminated",
        event="ServiceTerminated",
        says=f" terminated on {on}: overdue on payment",
        actor=actor,
        email="service_terminated",
    )


# --- cancellation requests ---------------------------------------------------------------------------------------

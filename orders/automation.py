"""Orders' step of the automation run (see automation.registry): cancel pending orders left unpaid."""

from __future__ import annotations

import datetime

from django.db import transaction
from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from automation.models import AutomationSettings
from automation.registry import StepContext, automation_step, in_batches
from billing.models import Invoice
from orders.models import Order, OrderStatusChange
from orders.services import order_cancel

BATCH_SIZE = 500


def day_after(day: datetime.date) -> datetime.datetime:
    """Midnight after `day` in the portal's time zone: whatever happened before it happened on or before `day`
    there (a range on the timestamp, so an index serves it)."""
    next_midnight = datetime.datetime.combine(day + datetime.timedelta(days=1), datetime.time.min)
    return timezone.make_aware(next_midnight, timezone.get_default_timezone())


def unpaid_orders(*, pending_since: datetime.date) -> QuerySet[Order]:
    """Pending orders whose invoice is Unpaid with nothing received on it, placed on or before the date and not
    set back to pending by an admin after it. A partly paid invoice means the client is paying: an admin decides.
    Each order carries `reopened_at`, when an admin last set it back to pending (None if never)."""
    # The history row written at checkout has no from_status; a later move back to Pending has one.
    last_reopened = (
        OrderStatusChange.objects.filter(order=OuterRef("pk"), to_status=Order.Status.PENDING)
        .exclude(from_status="")
        .order_by("-created_at")
        .values("created_at")[:1]
    )
    until = day_after(pending_since)
    return (
        Order.objects.filter(
            status=Order.Status.PENDING,
            invoice__status=Invoice.Status.UNPAID,
            invoice__amount_paid=0,
            created_at__lt=until,
        )
        .annotate(reopened_at=Subquery(last_reopened))
        .filter(Q(reopened_at__isnull=True) | Q(reopened_at__lt=until))
    )


@automation_step(
    "cancel_unpaid_orders",
    order=60,
    description="Cancel pending orders whose invoice is still unpaid the settings' days after they were placed.",
)
def cancel_unpaid_orders(context: StepContext) -> None:
    settings = AutomationSettings.load()
    if not settings.cancel_unpaid_orders_enabled:
        return
    due = unpaid_orders(pending_since=context.today - datetime.timedelta(days=settings.cancel_unpaid_orders_after_days))
    ids = list(due.order_by("id").values_list("id", flat=True))
    portal_zone = timezone.get_default_timezone()
    for done, batch in enumerate(in_batches(ids, BATCH_SIZE)):
        with transaction.atomic():
            # Checked again under the lock, the invoice locked too: a payment landing now skips or removes the
            # order (PostgreSQL skips rows another run or a payment holds; they are looked at again tomorrow).
            locked = (
                due.filter(pk__in=batch)
                .select_for_update(skip_locked=True, of=("self", "invoice"))
                .select_related("invoice")
                .order_by("id")
            )
            for order in locked:
                placed_on = timezone.localdate(order.created_at, portal_zone)
                pending_on = timezone.localdate(
                    max(order.created_at, order.reopened_at or order.created_at), portal_zone
                )
                reason = f"unpaid after {(context.today - pending_on).days} days (automation)"
                try:
                    with transaction.atomic():  # one order's fault rolls back that order only
                        order_cancel(order=order, actor=None, reason=reason)
                except Exception as failure:  # recorded in the step's errors and logged; the others go on
                    context.error(f"Order #{order.pk}: not cancelled: {type(failure).__name__}: {failure}")
                    continue
                context.count("orders cancelled")
                context.say(
                    f"Order #{order.pk} (client #{order.client_id}) placed {placed_on}: cancelled, "
                    f"invoice {order.invoice.display_number} unpaid"
                )
        context.progress(min((done + 1) * BATCH_SIZE, len(ids)), len(ids))

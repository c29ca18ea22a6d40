"""How provisioning reacts to events of the layers below it. Registered in ProvisioningConfig.ready(); listed by
`manage.py trigger_map`."""

from notifications.bus import register
from notifications.models import Event
from provisioning.services import items_paid_through, services_unsuspend_after_payment
from provisioning.services.auto_setup import invoice_auto_setup, order_auto_setup
from provisioning.services.domains import domains_register_on_payment


@register("InvoicePaid", priority=10)
def extend_items_on_payment(event: Event) -> None:
    """A paid invoice moves the next due date of what it billed past the period it paid for, and a registered
    domain's expiry date with it (an Expired domain is Active again)."""
    items_paid_through(invoice_id=int(event.payload["invoice_id"]))


@register("InvoicePaid", priority=20)
def unsuspend_on_payment(event: Event) -> None:
    """A paid invoice lifts the overdue suspension of the services it billed, when the settings say so and
    nothing else of theirs is overdue that long (the daily run's overdue_unsuspension step does the same for
    anything this missed)."""
    services_unsuspend_after_payment(invoice_id=int(event.payload["invoice_id"]))


@register("InvoicePaid", priority=30)
def setup_on_payment(event: Event) -> None:
    """A paid invoice sets up the Pending services it billed that were bought to be set up on payment (once: the
    create's key makes a replayed event ask for nothing)."""
    invoice_auto_setup(invoice_id=int(event.payload["invoice_id"]))


@register("InvoicePaid", priority=35)
def register_domains_on_payment(event: Event) -> None:
    """A paid invoice sends the Pending domains it billed to their registrar when their TLD says to register on
    payment (once: the register call's key makes a replayed event ask for nothing)."""
    domains_register_on_payment(invoice_id=int(event.payload["invoice_id"]))


@register("OrderCreated", priority=10)
def setup_on_order(event: Event) -> None:
    """A placed order (its checkout committed) sets up its services bought to be set up on order; the order
    stays Pending for the admin. A service sent to Fraud by the checkout's screening is not Pending: left alone."""
    order_auto_setup(order_id=int(event.payload["order_id"]))

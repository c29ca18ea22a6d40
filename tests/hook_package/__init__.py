"""A provider's hook package, as PORTAL_HOOK_PACKAGES names it: importing it registers an after-commit hook and a
pre-hook, without any change to the project."""

from notifications.bus import register
from notifications.hooks import PreEvent, Veto, pre_hook
from notifications.models import Event

heard: list[int] = []
BLOCKED_CLIENTS: set[int] = set()


@register("OrderCreated", priority=50)
def tell_the_crm(event: Event) -> None:
    heard.append(event.payload["order_id"])


@pre_hook("ShoppingCartValidateCheckout")
def refuse_blocked_clients(event: PreEvent) -> None:
    if event.payload["client_id"] in BLOCKED_CLIENTS:
        raise Veto("Orders from this account are paused: please contact support.")

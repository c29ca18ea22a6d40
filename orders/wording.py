"""The words for what an order's review did, one line per item, as the admin's messages say them."""

from __future__ import annotations

from orders.services.review import InvoiceMove, ReviewLine
from provisioning.models import Domain
from provisioning.outcomes import DomainActivated, ItemMove, ServiceActivated
from provisioning.wording import domain_activated_words, item_move_words, service_activated_words


def review_line_words(line: ReviewLine) -> str:
    """ "Starter #12 (example.com): terminated", "Domain example.com: fraud", "INV-7: cancelled"."""
    subject = f"Domain {line.item}" if isinstance(line.item, Domain) else str(line.item)
    result = line.result
    if isinstance(result, ServiceActivated):
        words = service_activated_words(result)
    elif isinstance(result, DomainActivated):
        words = domain_activated_words(result)
    elif isinstance(result, ItemMove):
        words = item_move_words(result)
    elif isinstance(result, InvoiceMove):
        words = result.value
    else:
        raise TypeError(f"No words for {result!r}")
    return f"{subject}: {words}"

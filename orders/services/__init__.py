"""Order use cases: checkout (placing an order) and review (what admins do with it)."""

from orders.services.checkout import CartItem, order_place
from orders.services.fraud import order_fraud_recheck
from orders.services.review import (
    InvoiceMove,
    ReviewLine,
    ServiceAcceptOptions,
    order_accept,
    order_cancel,
    order_delete,
    order_mark_fraud,
    order_set_pending,
)

__all__ = [
    "CartItem",
    "InvoiceMove",
    "ReviewLine",
    "ServiceAcceptOptions",
    "order_accept",
    "order_cancel",
    "order_delete",
    "order_fraud_recheck",
    "order_mark_fraud",
    "order_place",
    "order_set_pending",
]

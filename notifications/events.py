"""The catalog of named events. `emit()` refuses a name that is not here, so a typo fails loudly in tests
instead of firing an event nobody listens to. The trigger map lists these with their handlers."""

EVENTS: dict[str, str] = {
    # orders
    "OrderCreated": "A client placed an order (checkout committed).",
    "AcceptOrder": "An admin accepted an order.",
    "CancelOrder": "An order and its items were cancelled.",
    "FraudOrder": "An order and its items were marked as fraud.",
    "PendingOrder": "A cancelled or fraud order was set back to pending.",
    "DeleteOrder": "An order, its services, domains and invoice were deleted.",
    # billing
    "InvoiceCreated": "An invoice was created.",
    "InvoiceCancelled": "An invoice was cancelled.",
    "InvoiceUnpaid": "A cancelled invoice was reopened as unpaid.",
    # provisioning
    "ServiceActivated": "A service became active.",
    "ServiceTerminated": "A live service was terminated.",
    "ServiceCancelled": "A pending service was cancelled.",
    "ServiceFraud": "A pending service was marked as fraud.",
    "ServicePending": "A service was set back to pending.",
    "DomainSentToRegistrar": "A domain was accepted for registration or transfer and waits for its registrar.",
    "DomainActivated": "A domain became active.",
    "DomainCancelled": "A domain was cancelled.",
    "DomainFraud": "A domain was marked as fraud.",
    "DomainPending": "A domain was set back to pending.",
}

"""The catalog of named events. `emit()` refuses a name that is not here, so a typo fails loudly in tests
instead of firing an event nobody listens to. The trigger map lists these with their handlers."""

EVENTS: dict[str, str] = {
    # the automation run
    "PreCronJob": "The automation run is starting (for its date; also in a dry run, which is rolled back).",
    "DailyCronJob": "The first automation run of a date that ran every step finished (once per date).",
    "AfterCronJob": "An automation run finished (ok=False when a step had errors).",
    # orders
    "OrderCreated": "A client placed an order (checkout committed).",
    "AcceptOrder": "An admin accepted an order.",
    "CancelOrder": "An order and its items were cancelled.",
    "FraudOrder": "An order and its items were marked as fraud.",
    "PendingOrder": "A cancelled or fraud order was set back to pending.",
    "DeleteOrder": "An order, its services, domains and invoice were deleted.",
    "PreFraudCheck": "The fraud check is about to score an order (at checkout, or again by an admin).",
    "AfterFraudCheck": "The fraud check scored an order, or failed (error=True); the result is on the order.",
    "FraudCheckPassed": "An order scored below the fraud threshold, or the check was skipped by a setting.",
    "FraudCheckFailed": "An order scored at or above the fraud threshold (at checkout it goes to Fraud).",
    # billing
    "InvoiceCreated": "An invoice was created.",
    "InvoiceCancelled": "An invoice was cancelled.",
    "InvoiceUnpaid": "A cancelled invoice was reopened as unpaid.",
    "InvoiceIssued": "A draft invoice was issued (Draft -> Unpaid) and numbered.",
    "InvoiceSent": "An invoice was emailed to its client.",
    "InvoiceCollections": "An unpaid invoice was sent to collections.",
    "InvoicePaymentReceived": "A payment was recorded against an invoice (full or partial).",
    "InvoicePaid": "An invoice's balance reached zero: it is Paid.",
    "InvoiceRefundRecorded": "A refund (full or partial) was recorded on a paid invoice.",
    "InvoiceRefunded": "Everything paid on an invoice went back: it is Refunded.",
    "InvoiceCreditApplied": "Client credit was applied to an invoice.",
    "ClientCreditAdded": "Credit was added to a client's balance (by an admin, an overpayment or a cancelled invoice).",
    "ClientCreditRemoved": "An admin removed credit from a client's balance.",
    "GatewayEventFailed": "A gateway callback could not be applied; it is kept for a retry.",
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
    "DomainExpired": "An active domain passed its expiry date without renewal: it is Expired.",
}

"""The catalog of named events: each one's description and the payload fields it carries (ids and plain values,
never model instances). `emit()` refuses a name that is not here, or a field its entry does not declare, so a
typo fails loudly in tests instead of firing an event nobody listens to; pre-hooks (notifications.hooks) are
checked the same way. The trigger map lists these with their reactions.

`EVENTS` stays the plain mapping of names to descriptions that other code reads (`name in EVENTS`);
`event_fields(name)` gives an event's fields and what each holds."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

# What a field holds, in the payload as stored (JSON): ids are integers; money and dates are text.
ID, INT, BOOL, TEXT, MONEY, DATE, LIST = "id", "integer", "true/false", "text", "decimal text", "ISO date", "list"


@dataclass(frozen=True)
class EventSpec:
    description: str
    fields: dict[str, str]  # field name: what it holds


_ORDER = {"order_id": ID, "client_id": ID}
_INVOICE = {"invoice_id": ID, "client_id": ID}
_SERVICE = {"service_id": ID, "client_id": ID}
_DOMAIN = {"domain_id": ID, "client_id": ID}
_FRAUD = {**_ORDER, "recheck": BOOL}
_FRAUD_SCORE = {"score": INT, "threshold": INT, "is_fraud": BOOL, "skipped_reason": TEXT}

CATALOG: dict[str, EventSpec] = {
    # the automation run
    "PreCronJob": EventSpec(
        "The automation run is starting (for its date; also in a dry run, which is rolled back).",
        {"run_id": ID, "date": DATE, "dry_run": BOOL},
    ),
    "DailyCronJob": EventSpec(
        "The first automation run of a date that ran every step finished (once per date).",
        {"run_id": ID, "date": DATE},
    ),
    "AfterCronJob": EventSpec(
        "An automation run finished (ok=False when a step had errors).",
        {"run_id": ID, "date": DATE, "ok": BOOL, "dry_run": BOOL},
    ),
    # orders
    "ShoppingCartValidateCheckout": EventSpec(
        "A client is checking out a cart (pre-hook: inside the checkout, before anything is written; a hook may "
        "refuse the checkout with a reason the client sees).",
        {
            "client_id": ID,
            "currency": TEXT,
            "promo_code": TEXT,
            "ip_address": TEXT,
            # [{"product_id", "product_name", "billing_cycle", "price", "setup_fee", "domain", "domain_action"}]
            "items": LIST,
        },
    ),
    "OrderCreated": EventSpec(
        "A client placed an order, or an admin placed one for a client (checkout committed); invoice_id is null "
        "when the admin placed it without an invoice.",
        {**_ORDER, "invoice_id": ID, "total": MONEY, "currency": TEXT, "fraud_score": INT, "fraud": BOOL},
    ),
    "AcceptOrder": EventSpec("An admin accepted an order.", _ORDER),
    "CancelOrder": EventSpec("An order and its items were cancelled.", _ORDER),
    "FraudOrder": EventSpec("An order and its items were marked as fraud.", _ORDER),
    "PendingOrder": EventSpec("A cancelled or fraud order was set back to pending.", _ORDER),
    "DeleteOrder": EventSpec(
        "An order, its services, domains and invoice were deleted.", {"order_number": TEXT, "client_id": ID}
    ),
    "PreFraudCheck": EventSpec(
        "The fraud check is about to score an order (at checkout, or again by an admin).", _FRAUD
    ),
    "AfterFraudCheck": EventSpec(
        "The fraud check scored an order, or failed (error=True); the result is on the order.",
        {**_FRAUD, **_FRAUD_SCORE, "error": BOOL},
    ),
    "FraudCheckPassed": EventSpec(
        "An order scored below the fraud threshold, or the check was skipped by a setting.",
        {**_FRAUD, **_FRAUD_SCORE, "rules": LIST},
    ),
    "FraudCheckFailed": EventSpec(
        "An order scored at or above the fraud threshold (at checkout it goes to Fraud).",
        {**_FRAUD, **_FRAUD_SCORE, "rules": LIST},
    ),
    # billing
    "InvoiceCreated": EventSpec("An invoice was created.", {**_INVOICE, "total": MONEY, "currency": TEXT}),
    "InvoiceCancelled": EventSpec("An invoice was cancelled.", _INVOICE),
    "InvoiceUnpaid": EventSpec("A cancelled invoice was reopened as unpaid.", _INVOICE),
    "InvoiceIssued": EventSpec(
        "A draft invoice was issued (Draft -> Unpaid) and numbered.", {**_INVOICE, "number": TEXT}
    ),
    "InvoiceSent": EventSpec("An email of an invoice to its client was queued.", _INVOICE),
    "InvoiceCollections": EventSpec("An unpaid invoice was sent to collections.", _INVOICE),
    "InvoiceLinesRemoved": EventSpec(
        "Lines were taken off an open invoice (what they billed ended first); totals recomputed.",
        {**_INVOICE, "lines": INT},
    ),
    "InvoicePaymentReceived": EventSpec(
        "A payment was recorded against an invoice (full or partial).",
        {**_INVOICE, "transaction_id": ID, "amount": MONEY, "gateway": TEXT},
    ),
    "InvoicePaid": EventSpec("An invoice's balance reached zero: it is Paid.", {**_INVOICE, "total": MONEY}),
    "InvoiceRefundRecorded": EventSpec(
        "A refund (full or partial) was recorded on a paid invoice.", {**_INVOICE, "amount": MONEY}
    ),
    "InvoiceRefunded": EventSpec("Everything paid on an invoice went back: it is Refunded.", _INVOICE),
    "InvoiceCreditApplied": EventSpec("Client credit was applied to an invoice.", {**_INVOICE, "amount": MONEY}),
    "ClientCreditAdded": EventSpec(
        "Credit was added to a client's balance (by an admin, an overpayment or a cancelled invoice).",
        {"client_id": ID, "amount": MONEY},
    ),
    "ClientCreditRemoved": EventSpec(
        "An admin removed credit from a client's balance.", {"client_id": ID, "amount": MONEY}
    ),
    "InvoicePaymentReminder": EventSpec(
        "A payment reminder level was reached for an unpaid invoice (its email queued).",
        {**_INVOICE, "level_days": INT, "template": TEXT},
    ),
    "AddInvoiceLateFee": EventSpec(
        "A late fee was added to an overdue invoice.",
        {**_INVOICE, "sequence": INT, "amount": MONEY, "currency": TEXT},
    ),
    "GatewayEventFailed": EventSpec(
        "A gateway callback could not be applied; it is kept for a retry.",
        {"gateway_event_id": ID, "gateway": TEXT, "error": TEXT},
    ),
    # provisioning
    "ServiceActivated": EventSpec("A service became active.", {**_SERVICE, "module_ran": BOOL}),
    "ServiceTerminated": EventSpec(
        "A live service was terminated.",
        {**_SERVICE, "reason": TEXT},  # reason: from the overdue / cancel steps
    ),
    "ServiceSuspended": EventSpec(
        "A service was suspended (reason: overdue, abuse or admin).", {**_SERVICE, "reason": TEXT}
    ),
    "ServiceUnsuspended": EventSpec(
        "A suspended service was made active again (e.g. its overdue invoice was paid).", {**_SERVICE, "reason": TEXT}
    ),
    "CancellationRequest": EventSpec(
        "A cancellation of a service was requested (immediately or at the end of its period).",
        {**_SERVICE, "when": TEXT, "request_id": ID},
    ),
    "CancellationWithdrawn": EventSpec(
        "A client or an admin withdrew an open cancellation request before it was carried out.",
        {**_SERVICE, "request_id": ID},
    ),
    "ServiceCancelled": EventSpec("A pending service was cancelled.", _SERVICE),
    "ServiceFraud": EventSpec("A pending service was marked as fraud.", _SERVICE),
    "ServicePending": EventSpec("A service was set back to pending.", _SERVICE),
    "DomainSentToRegistrar": EventSpec(
        "A domain was accepted for registration or transfer and waits for its registrar.",
        {**_DOMAIN, "registration_type": TEXT, "registrar_ran": BOOL},
    ),
    "DomainActivated": EventSpec("A domain became active.", {**_DOMAIN, "registrar_ran": BOOL}),
    "DomainCancelled": EventSpec("A domain was cancelled.", _DOMAIN),
    "DomainFraud": EventSpec("A domain was marked as fraud.", _DOMAIN),
    "DomainPending": EventSpec("A domain was set back to pending.", _DOMAIN),
    "DomainRenewalNotice": EventSpec(
        "A domain's renewal notice email was queued for its owner (one per configured day).",
        {**_DOMAIN, "expiry_date": DATE, "days_before": INT},
    ),
    "DomainExpired": EventSpec(
        "An active domain passed its expiry date without renewal: it is Expired.", {**_DOMAIN, "expiry_date": DATE}
    ),
    "DomainRenewed": EventSpec(
        "A paid renewal moved a domain's expiry date (an expired one is Active again); no registrar has confirmed "
        "it yet.",
        {**_DOMAIN, "invoice_id": ID, "expiry_date": DATE, "previous_expiry_date": DATE, "reactivated": BOOL},
    ),
    "DomainGraceFeeAdded": EventSpec(
        "An Expired domain in its TLD's grace period: the grace fee was added to its unpaid renewal invoice.",
        {**_DOMAIN, "invoice_id": ID, "amount": MONEY, "currency": TEXT},
    ),
    "DomainRedemptionFeeAdded": EventSpec(
        "An Expired domain past its grace period, in redemption: the redemption fee was added to its unpaid renewal "
        "invoice.",
        {**_DOMAIN, "invoice_id": ID, "amount": MONEY, "currency": TEXT},
    ),
    "DomainTransferredAway": EventSpec(
        "The registrar says another registrar holds the domain now: it is Transferred Away and not billed again.",
        _DOMAIN,
    ),
    "DomainGone": EventSpec(
        "The registrar says the registry no longer has the domain: it is Cancelled and not billed again.", _DOMAIN
    ),
    "DomainTransferFailed": EventSpec(
        "The registry refused a domain's transfer in: the domain is Pending again, with the registry's reason.",
        {**_DOMAIN, "reason": TEXT},
    ),
}

# The module queue's events (provisioning.queue), one set per module action (provisioning.modules.base.Action):
# PreModule<Action> runs before the call reaches the module and may veto it; AfterModule<Action> and
# AfterModule<Action>Failed are emitted when the call is recorded.
MODULE_ACTIONS = {
    "Create": "create the account",
    "Suspend": "suspend the account",
    "Unsuspend": "unsuspend the account",
    "Terminate": "remove the account",
    "Renew": "renew the account",
    "ChangePackage": "change the account's package",
    "ChangePassword": "change the account's password",
    "TestConnection": "test the connection to a server",
    "Usage": "read the account's usage",
    "SsoLink": "make a single sign-on link",
    "ListAccounts": "list a server's accounts",
}
_MODULE_CALL = {"call_id": ID, "service_id": ID, "client_id": ID, "module": TEXT, "action": TEXT, "server_id": ID}
for _suffix, _what in MODULE_ACTIONS.items():
    CATALOG[f"PreModule{_suffix}"] = EventSpec(
        f"A module is about to {_what} (pre-hook: in the worker, before the module is called; a veto fails the "
        "call with the hook's reason, and it waits in the module queue).",
        {**_MODULE_CALL, "attempt": INT},
    )
    CATALOG[f"AfterModule{_suffix}"] = EventSpec(
        f"A module call to {_what} succeeded.", {**_MODULE_CALL, "attempt": INT, "duration_ms": INT}
    )
    CATALOG[f"AfterModule{_suffix}Failed"] = EventSpec(
        f"A module call to {_what} failed (transient: it will be retried; otherwise it waits for an admin).",
        {**_MODULE_CALL, "attempt": INT, "error": TEXT, "transient": BOOL, "gave_up": BOOL},
    )

# The registrar calls' events (the same queue; provisioning.registrars.base.RegistrarAction): PreRegistrar<Action>
# may veto, AfterRegistrar<Action> and AfterRegistrar<Action>Failed are emitted when the call is recorded.
REGISTRAR_ACTIONS = {
    "Check": "check a domain's availability",
    "Register": "register the domain",
    "Transfer": "transfer the domain in",
    "Renew": "renew the domain",
    "GetNameservers": "read the domain's nameservers",
    "SaveNameservers": "change the domain's nameservers",
    "GetLock": "read the domain's transfer lock",
    "SaveLock": "change the domain's transfer lock",
    "GetEppCode": "get the domain's EPP code",
    "SaveContacts": "change the domain's contacts",
    "Sync": "sync the domain's expiry date and status",
    "TransferSync": "follow the domain's transfer",
}
_REGISTRAR_CALL = {"call_id": ID, "domain_id": ID, "client_id": ID, "registrar": TEXT, "action": TEXT}
for _suffix, _what in REGISTRAR_ACTIONS.items():
    CATALOG[f"PreRegistrar{_suffix}"] = EventSpec(
        f"A registrar is about to {_what} (pre-hook: in the worker, before the registrar is called; a veto fails "
        "the call with the hook's reason, and it waits in the module queue).",
        {**_REGISTRAR_CALL, "attempt": INT},
    )
    CATALOG[f"AfterRegistrar{_suffix}"] = EventSpec(
        f"A registrar call to {_what} succeeded.", {**_REGISTRAR_CALL, "attempt": INT, "duration_ms": INT}
    )
    CATALOG[f"AfterRegistrar{_suffix}Failed"] = EventSpec(
        f"A registrar call to {_what} failed (transient: it will be retried; otherwise it waits for an admin).",
        {**_REGISTRAR_CALL, "attempt": INT, "error": TEXT, "transient": BOOL, "gave_up": BOOL},
    )

EVENTS: dict[str, str] = {name: spec.description for name, spec in CATALOG.items()}


def event_description(name: str) -> str:
    return CATALOG[name].description


def event_fields(name: str) -> dict[str, str]:
    """The payload fields `name` declares: {field: what it holds}."""
    return dict(CATALOG[name].fields)


class UnknownEvent(ValueError):
    """An event, or a payload field, that the catalog does not declare: a programming error, refused at once."""


def payload_check(name: str, fields: Iterable[str]) -> None:
    """Refuse an event the catalog lacks, or a payload field its entry does not declare."""
    spec = CATALOG.get(name)
    if spec is None:
        raise UnknownEvent(f"Unknown event {name!r}: add it to notifications.events.CATALOG first.")
    unknown = set(fields) - spec.fields.keys()
    if unknown:
        raise UnknownEvent(
            f"Event {name!r} does not declare the field(s) {', '.join(sorted(unknown))}: add them to its entry in "
            "notifications.events.CATALOG first."
        )

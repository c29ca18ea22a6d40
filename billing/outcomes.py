"""What billing's services and selectors found or did, as data: billing.wording, the admin and the views word it."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class InvoiceDeleteBlocker(enum.Enum):
    """Why an invoice may not be deleted (billing.selectors.invoice_delete_blocker): money that was received or
    credited must stay on record."""

    NOT_DELETABLE_STATUS = "not_deletable_status"  # Paid, Refunded or in Collections
    CREDIT_APPLIED = "credit_applied"
    PAYMENTS_RECORDED = "payments_recorded"


class Withdrawal(enum.StrEnum):
    """What invoice_lines_withdraw did with an invoice."""

    CANCELLED = "cancelled"
    LINES_REMOVED = "lines removed"
    LEFT_FOR_ADMIN = "left for an admin"


class KeptBecause(enum.Enum):
    """Why invoice_lines_withdraw left an invoice as it was, for an admin (Withdrawal.LEFT_FOR_ADMIN)."""

    NOT_OPEN = "not_open"  # no longer Draft or Unpaid (paid meanwhile): WithdrawalOutcome.status says which
    LINES_GONE = "lines_gone"  # the lines were removed meanwhile
    MONEY_ON_IT = "money_on_it"  # a payment or credit: removing lines could leave it overpaid
    TOTALS_REFUSED = "totals_refused"  # the rest makes no valid totals: WithdrawalOutcome.refused says why


@dataclass(frozen=True)
class WithdrawalOutcome:
    outcome: Withdrawal
    kept_because: KeptBecause | None = None  # for LEFT_FOR_ADMIN
    status: str = ""  # for NOT_OPEN: the invoice's status (an Invoice.Status value)
    refused: tuple[str, ...] = ()  # for TOTALS_REFUSED: the messages of the ValidationError that refused them

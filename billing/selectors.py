from django.db.models import Q, QuerySet, Subquery

from billing.models import BillingSettings, Client, Invoice, TaxRule
from billing.taxes import NO_TAX, TaxSetup


def client_invoices(*, client: Client) -> QuerySet[Invoice]:
    return Invoice.objects.filter(client=client).select_related("currency").order_by("-date", "-id")


def login_invoices(*, user_id: int) -> QuerySet[Invoice]:
    """The invoices of the client this login belongs to, newest first; none when it has no client.

    The client is looked up inside the same query (a subquery on its unique user_id), so a client-area page
    needs no query of its own for it, and the invoices come in the order of the (client, -date, -id) index.
    """
    client_id = Client.objects.filter(user_id=user_id).order_by().values("id")
    return Invoice.objects.filter(client_id=Subquery(client_id)).order_by("-date", "-id")


# What the client-area invoice list shows of an invoice (and the currency its amounts are formatted in).
INVOICE_LIST_FIELDS = (
    "number",
    "status",
    "date",
    "due_date",
    "total",
    "balance_due",
    "currency__code",
    "currency__prefix",
    "currency__suffix",
    "currency__decimal_places",
)


def login_invoice_list(*, user_id: int, status: str = "") -> QuerySet[Invoice]:
    """The client-area invoice list: only the columns it shows, optionally of one status."""
    invoices = login_invoices(user_id=user_id).select_related("currency").only(*INVOICE_LIST_FIELDS)
    return invoices.filter(status=status) if status else invoices


DELETABLE_INVOICE_STATUSES = (Invoice.Status.DRAFT, Invoice.Status.UNPAID, Invoice.Status.CANCELLED)


def invoice_delete_blocker(*, invoice: Invoice) -> str | None:
    """Why this invoice may not be deleted, or None. Money that was received or credited must stay on record."""
    if invoice.status not in DELETABLE_INVOICE_STATUSES:
        return f"{invoice} is {invoice.get_status_display()}; refund or keep it instead of deleting it."
    if invoice.credit_applied > 0:
        return f"{invoice} has credit applied; remove the credit before deleting it."
    if invoice.transactions.exists():
        return f"{invoice} has payments recorded against it; refund them instead of deleting it."
    return None


def tax_setup_for(*, client: Client, billing: BillingSettings) -> TaxSetup:
    """The taxes a new invoice for this client is computed with: per level, the most specific rule for the
    client's country and state (country + state, then country, then everywhere); none for tax-exempt clients."""
    if client.tax_exempt or not billing.taxes_enabled:
        return NO_TAX
    state = client.state.strip().casefold()
    best: dict[int, tuple[int, TaxRule]] = {}
    for rule in TaxRule.objects.filter(Q(country="") | Q(country=client.country)):
        if rule.state and rule.state.strip().casefold() != state:
            continue
        specificity = (2 if rule.country else 0) + (1 if rule.state else 0)
        if rule.level not in best or specificity > best[rule.level][0]:
            best[rule.level] = (specificity, rule)
    level_1, level_2 = best.get(1, (0, None))[1], best.get(2, (0, None))[1]
    return TaxSetup(
        rate_1=level_1.rate if level_1 else NO_TAX.rate_1,
        name_1=level_1.name if level_1 else "",
        rate_2=level_2.rate if level_2 else NO_TAX.rate_2,
        name_2=level_2.name if level_2 else "",
        compound=billing.compound_tax,
        prices_include_tax=billing.prices_include_tax,
    )

import functools
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from django.db import connection
from django.db.models import CharField, F, Q, QuerySet, Subquery, Value
from django.db.models.functions import Cast, Coalesce, Concat, NullIf

from billing.models import BillingSettings, Client, Currency, Invoice, InvoiceItem, TaxRule, Transaction
from billing.outcomes import InvoiceDeleteBlocker
from billing.taxes import NO_TAX, TaxSetup
from core.inputs import ID_MAX, id_parse


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


@dataclass(frozen=True, slots=True)
class InvoicePageLine:
    description: str
    amount: Decimal


@dataclass(frozen=True, slots=True)
class InvoicePageMovement:
    id: int
    date: datetime
    kind: str
    gateway: str
    reference: str
    amount_in: Decimal
    amount_out: Decimal
    credit_change: Decimal


# Per database, the JSON functions that aggregate a child table's rows into one array of arrays.
_JSON_ARRAY_AGG = {"postgresql": ("json_agg", "json_build_array"), "sqlite": ("json_group_array", "json_array")}


def _child_rows_sql(model, columns: tuple[str, ...], invoice_alias: str) -> str:
    """A correlated subquery giving an invoice's rows of `model` as a JSON array of arrays of `columns` (in no
    particular order: the caller sorts), as text, so that numbers are parsed here as Decimal (PostgreSQL's
    driver would parse json with floats)."""
    aggregate, array = _JSON_ARRAY_AGG[connection.vendor]
    quote = connection.ops.quote_name
    cells = ", ".join(quote(model._meta.get_field(name).column) for name in columns)
    child = quote(model._meta.db_table)
    return (
        f"(SELECT CAST(COALESCE({aggregate}({array}({cells})), '[]') AS TEXT) FROM {child} "
        f"WHERE {child}.{quote('invoice_id')} = {invoice_alias}.{quote('id')})"
    )


def _parsed_rows(raw: str) -> list[list]:
    return json.loads(raw, parse_float=Decimal, parse_int=Decimal)  # money as Decimal, never through float


def _aware(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # SQLite keeps UTC without an offset


_LINE_COLUMNS = ("id", "description", "amount")
_MOVEMENT_COLUMNS = (
    "id",
    "date",
    "kind",
    "gateway",
    "gateway_transaction_id",
    "amount_in",
    "amount_out",
    "credit_change",
)


# What the invoice page shows of the invoice itself; the gateways it offers read no more.
_PAGE_INVOICE_FIELDS = (
    "id",
    "client_id",
    "currency_id",
    "number",
    "status",
    "date",
    "due_date",
    "paid_at",
    "subtotal",
    "tax_1",
    "tax_2",
    "credit_applied",
    "total",
    "amount_paid",
    "amount_refunded",
    "balance_due",
    "tax_1_name",
    "tax_1_rate",
    "tax_2_name",
    "tax_2_rate",
    "tax_compound",
)
_PAGE_CURRENCY_FIELDS = ("code", "prefix", "suffix", "decimal_places")


@functools.cache
def _invoice_page_sql(vendor: str) -> str:
    """The invoice page's query, written out once per process. Built by the ORM, the same query took three
    times as long in Python (compiling it, cloning querysets, building three model instances) as in
    PostgreSQL, and it is the one query of the most visited page in billing. Parameters: user id, invoice id."""
    quote = connection.ops.quote_name

    def column(model, alias: str, name: str) -> str:
        return f"{alias}.{quote(model._meta.get_field(name).column)}"

    select = [column(Invoice, "i", name) for name in _PAGE_INVOICE_FIELDS]
    select += [f"{column(Currency, 'cu', name)} AS {quote('currency_' + name)}" for name in _PAGE_CURRENCY_FIELDS]
    select += [
        f"{column(Client, 'c', 'currency_id')} AS {quote('client_currency_id')}",
        # As text on both databases: SQLite keeps decimals as floats, and the Decimal is made here.
        f"CAST({column(Client, 'c', 'credit_balance')} AS TEXT) AS {quote('client_credit_balance')}",
        f"{_child_rows_sql(InvoiceItem, _LINE_COLUMNS, 'i')} AS {quote('line_rows')}",
        f"{_child_rows_sql(Transaction, _MOVEMENT_COLUMNS, 'i')} AS {quote('movement_rows')}",
    ]
    return (
        f"SELECT {', '.join(select)} FROM {quote(Invoice._meta.db_table)} i "
        f"JOIN {quote(Client._meta.db_table)} c ON c.{quote('id')} = {column(Invoice, 'i', 'client')} "
        f"JOIN {quote(Currency._meta.db_table)} cu ON cu.{quote('id')} = {column(Invoice, 'i', 'currency')} "
        f"WHERE {column(Client, 'c', 'user')} = %s AND {column(Invoice, 'i', 'id')} = %s"
    )


@dataclass(frozen=True, slots=True)
class InvoicePage:
    invoice: Invoice  # with its client and currency
    lines: list[InvoicePageLine]  # in the order they were added
    movements: list[InvoicePageMovement]  # oldest first


def login_invoice_page(*, user_id: int, invoice_id: int) -> InvoicePage | None:
    """One invoice of this login's client with its client, currency, lines and transactions, in one query
    (None when the login has no such invoice). Lines and transactions come as JSON arrays from correlated
    subqueries: the invoice page is read far more often than anything else in billing, and each query a page
    makes costs about as much as the rest of the page's own work."""
    if not 1 <= invoice_id <= ID_MAX:  # the ORM's lookups skip such an id; SQLite's driver would raise on it
        return None
    found = list(Invoice.objects.raw(_invoice_page_sql(connection.vendor), [user_id, invoice_id]))
    if not found:
        return None
    invoice = found[0]  # the invoice's other fields are deferred: loaded if something reads them
    invoice.currency = Currency.from_db(
        None,
        ["id", *_PAGE_CURRENCY_FIELDS],
        [invoice.currency_id, *(getattr(invoice, f"currency_{name}") for name in _PAGE_CURRENCY_FIELDS)],
    )
    invoice.client = Client.from_db(
        None,
        ["id", "currency_id", "credit_balance"],
        [invoice.client_id, invoice.client_currency_id, Decimal(invoice.client_credit_balance)],
    )
    lines = [
        InvoicePageLine(description=description, amount=Decimal(amount))
        for _, description, amount in sorted(_parsed_rows(invoice.line_rows), key=lambda row: Decimal(row[0]))
    ]
    movements = sorted(
        (
            InvoicePageMovement(
                id=int(row_id),
                date=_aware(date),
                kind=kind,
                gateway=gateway,
                reference=reference,
                amount_in=Decimal(amount_in),
                amount_out=Decimal(amount_out),
                credit_change=Decimal(credit_change),
            )
            for row_id, date, kind, gateway, reference, amount_in, amount_out, credit_change in _parsed_rows(
                invoice.movement_rows
            )
        ),
        key=lambda movement: (movement.date, movement.id),
    )
    return InvoicePage(invoice=invoice, lines=lines, movements=movements)


# What can be refunded: money a payment put into an invoice, and credit applied to it (refunded to credit).
REFUNDABLE_KINDS = (Transaction.Kind.PAYMENT, Transaction.Kind.CREDIT_APPLIED)


def refundable_on(payment: Transaction) -> Decimal:
    """What of a payment (or of credit applied) can still be refunded: what it put into the invoice, less
    refunds against it so far. An overpayment's excess sits in the client's credit and is removed from there."""
    refunded = sum((r.amount_out for r in payment.refunds.all()), Decimal(0))
    if payment.kind == Transaction.Kind.CREDIT_APPLIED:
        return -payment.credit_change - refunded
    return payment.amount_in - max(payment.credit_change, Decimal(0)) - refunded


def refund_limit(payment: Transaction, invoice: Invoice) -> Decimal:
    """The most that may be refunded against this payment now: its own remainder, within the invoice's."""
    return max(Decimal(0), min(refundable_on(payment), invoice.refundable))


def refundable_transactions(*, invoice: Invoice) -> list[Transaction]:
    """The payments and credit applications of a Paid invoice with something left to refund, oldest first: what
    the admin's Refund button offers (none: no button)."""
    if invoice.status != Invoice.Status.PAID or invoice.refundable <= 0:
        return []
    candidates = (
        Transaction.objects.filter(invoice=invoice, kind__in=REFUNDABLE_KINDS)
        .select_related("currency")
        .prefetch_related("refunds")
        .order_by("date", "id")
    )
    return [payment for payment in candidates if refund_limit(payment, invoice) > 0]


DELETABLE_INVOICE_STATUSES = (Invoice.Status.DRAFT, Invoice.Status.UNPAID, Invoice.Status.CANCELLED)


def invoices_lock(ids: list[int]) -> list[int]:
    """Lock these invoices, in id order, in the caller's transaction; returns the ids found. Taking every lock a
    batch needs before it changes anything keeps the order invoice, then client, that payments use."""
    return list(Invoice.objects.select_for_update().filter(pk__in=ids).order_by("pk").values_list("pk", flat=True))


def invoice_delete_blocker(*, invoice: Invoice) -> InvoiceDeleteBlocker | None:
    """Why this invoice may not be deleted, or None (billing.wording words it). Money that was received or
    credited must stay on record."""
    if invoice.status not in DELETABLE_INVOICE_STATUSES:
        return InvoiceDeleteBlocker.NOT_DELETABLE_STATUS
    if invoice.credit_applied > 0:
        return InvoiceDeleteBlocker.CREDIT_APPLIED
    if invoice.transactions.exists():
        return InvoiceDeleteBlocker.PAYMENTS_RECORDED
    return None


def tax_setup_for(*, client: Client, billing: BillingSettings, rules: list[TaxRule] | None = None) -> TaxSetup:
    """The taxes a new invoice for this client is computed with: per level, the most specific rule for the
    client's country and state (country + state, then country, then everywhere); none for tax-exempt clients.
    `rules`: every tax rule, read once by a caller creating many invoices (otherwise read here)."""
    if client.tax_exempt or not billing.taxes_enabled:
        return NO_TAX
    state = client.state.strip().casefold()
    best: dict[int, tuple[int, TaxRule]] = {}
    if rules is None:
        rules = list(TaxRule.objects.filter(Q(country="") | Q(country=client.country)))
    for rule in rules:
        if rule.country and rule.country != client.country:
            continue
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


def invoice_label(path: str = "") -> Concat:
    """str(invoice) as the database writes it ("Invoice INV-2027-000001", "Invoice #12" without a number), for
    rows made by INSERT ... SELECT; `path` leads to the invoice ("invoice__" from its lines or reminders).
    Pinned to Invoice.__str__ by a test."""
    return Concat(
        Value("Invoice "),
        Coalesce(NullIf(F(f"{path}number"), Value("")), Concat(Value("#"), Cast(F(f"{path}id"), CharField()))),
        output_field=CharField(),
    )


CLIENT_SEARCH_LIMIT = 20


def clients_search(*, text: str, limit: int = CLIENT_SEARCH_LIMIT) -> list[Client]:
    """The clients whose name, company or email contains `text` (case-insensitive), or whose id it is: at most
    `limit`, newest first, with their currency, in one query. Blank text finds nothing."""
    text = text.strip()
    if not text:
        return []
    matches = Q(contact_name__icontains=text) | Q(company_name__icontains=text) | Q(email__icontains=text)
    if (client_id := id_parse(text.removeprefix("#"))) is not None:
        matches |= Q(pk=client_id)
    return list(Client.objects.filter(matches).select_related("currency").order_by("-id")[:limit])

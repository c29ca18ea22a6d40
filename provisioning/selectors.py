import datetime
from dataclasses import dataclass

from django.db.models import Case, CharField, DateField, Exists, F, OuterRef, QuerySet, Value, When
from django.db.models.functions import Cast, Coalesce, Concat, Greatest, Least, TruncDate

from billing.models import Client, Invoice, InvoiceItem
from provisioning.models import CancellationRequest, Domain, Service
from provisioning.outcomes import CancellationRefusal

LIVE_SERVICE_STATUSES = (Service.Status.ACTIVE, Service.Status.SUSPENDED)
# A domain past Pending is at a registrar (or was): it is not removed without being cancelled first.
DOMAIN_AT_REGISTRAR_STATUSES = tuple(status for status in Domain.LIVE_STATUSES if status != Domain.Status.PENDING)
_RELEASED_SERVICE_STATUSES = (Service.Status.CANCELLED, Service.Status.FRAUD, Service.Status.TERMINATED)


def holds_stock(item: Service | Domain) -> bool:
    """Whether an item still counts against its product's stock (it may yet be delivered or is delivered)."""
    if isinstance(item, Service):
        return item.status not in _RELEASED_SERVICE_STATUSES
    return item.status in Domain.LIVE_STATUSES


def live_items(*, services: list[Service], domains: list[Domain]) -> list[str]:
    """Names of the items that exist outside this database: accounts on servers, domains at a registrar."""
    names = [str(s) for s in services if s.status in LIVE_SERVICE_STATUSES]
    return names + [f"domain {d}" for d in domains if d.status in DOMAIN_AT_REGISTRAR_STATUSES]


def lock_order_items(*, order_id: int) -> tuple[list[Service], list[Domain]]:
    """Lock an order's services and domains, in primary-key order so two workers never deadlock."""
    services = list(
        Service.objects.select_for_update(of=("self",))
        .filter(order_id=order_id)
        .select_related("product", "client")
        .order_by("pk")
    )
    domains = list(Domain.objects.select_for_update().filter(order_id=order_id).order_by("pk"))
    return services, domains


def order_items(*, order_id: int) -> tuple[list[Service], list[Domain]]:
    services = list(Service.objects.filter(order_id=order_id).select_related("product").order_by("pk"))
    domains = list(Domain.objects.filter(order_id=order_id).order_by("pk"))
    return services, domains


def client_services(*, client: Client) -> QuerySet[Service]:
    return Service.objects.filter(client=client).select_related("product", "currency").order_by("-id")


def open_cancellation(*, service: Service) -> CancellationRequest | None:
    """The service's open cancellation request, if it has one (at most one: a partial unique key)."""
    return service.cancellation_requests.filter(status=CancellationRequest.Status.OPEN).first()


def cancellation_refusal(service: Service) -> CancellationRefusal | None:
    """Why this service cannot be asked to end now, or None (provisioning.wording words it)."""
    if service.status not in (Service.Status.ACTIVE, Service.Status.SUSPENDED):
        return CancellationRefusal.NOT_LIVE
    if service.cancellation_requests.filter(status=CancellationRequest.Status.OPEN).exists():
        return CancellationRefusal.ALREADY_REQUESTED
    return None


@dataclass(frozen=True)
class CancellationButtons:
    """What a service's page offers about ending it: its open request (shown), asking to end it, withdrawing the
    request."""

    open_request: CancellationRequest | None
    may_request: bool
    may_withdraw: bool


def cancellation_buttons(*, service: Service) -> CancellationButtons:
    request = open_cancellation(service=service)
    return CancellationButtons(
        open_request=request,
        may_request=request is None and cancellation_refusal(service) is None,
        may_withdraw=request is not None,
    )


def open_service_lines(*, service_ids: list[int]) -> QuerySet[InvoiceItem]:
    """The lines of open (Draft or Unpaid) invoices that bill these services."""
    return InvoiceItem.objects.filter(
        kind=InvoiceItem.Kind.SERVICE, related_id__in=service_ids, invoice__status__in=Invoice.OPEN_STATUSES
    )


def invoices_awaiting_withdrawal(today: datetime.date) -> QuerySet[InvoiceItem]:
    """The ids of open invoices with a line that an open cancellation request will withdraw once it is carried
    out: a line of a live service for a period starting on or after its cancellation_end (the same day, written
    for the database; an end-of-period request of a service without a due date is never carried out, and holds
    nothing). Only live services: the carry-out withdraws lines of the services it ends, and a service that
    ended otherwise keeps its invoices. Their payment reminders wait (registered as billing's reminder_hold): a
    client who asked to cancel at the end of the period is not reminded of the next one in the days before it is
    withdrawn. Built from the open requests, so the subquery stays small however many invoices the reminders
    step looks at."""
    asked = Least(TruncDate("requested_at"), Value(today, output_field=DateField()))
    ends = (
        CancellationRequest.objects.filter(status=CancellationRequest.Status.OPEN, service_id=OuterRef("related_id"))
        .annotate(asked=asked)
        .annotate(
            ends=Case(
                When(when=CancellationRequest.When.IMMEDIATE, then=F("asked")),
                When(service__next_due_date__isnull=False, then=Greatest("service__next_due_date", "asked")),
                default=None,
                output_field=DateField(),
            )
        )
        .filter(ends__lte=OuterRef("period_start"))
    )
    being_cancelled = CancellationRequest.objects.filter(
        status=CancellationRequest.Status.OPEN, service__status__in=LIVE_SERVICE_STATUSES
    ).values("service_id")
    return (
        InvoiceItem.objects.filter(
            kind=InvoiceItem.Kind.SERVICE, related_id__in=being_cancelled, invoice__status__in=Invoice.OPEN_STATUSES
        )
        .filter(Exists(ends))
        .values("invoice_id")
    )


def client_domains(*, client: Client) -> QuerySet[Domain]:
    return Domain.objects.filter(client=client).select_related("currency").order_by("name")


def overdue_service_lines(*, cutoff: datetime.date) -> QuerySet[InvoiceItem]:
    """The service lines of Unpaid invoices due on or before `cutoff`: what makes a service overdue since then.
    The one definition the overdue steps and the payment handler share."""
    return InvoiceItem.objects.filter(
        kind=InvoiceItem.Kind.SERVICE, invoice__status=Invoice.Status.UNPAID, invoice__due_date__lte=cutoff
    )


def service_label() -> Concat:
    """str(service) as the database writes it ("Starter #12 (example.com)"), for rows made by INSERT ... SELECT
    over services (activity messages of the automation run's batches). Pinned to Service.__str__ by a test."""
    return Concat(
        Coalesce(F("product__name"), Value("Service")),
        Value(" #"),
        Cast("pk", CharField()),
        Case(When(domain="", then=Value("")), default=Concat(Value(" ("), F("domain"), Value(")"))),
        output_field=CharField(),
    )


def service_lines(ids: list[int]) -> list[tuple[str, int]]:
    """(label, client id) of these services, in id order: what the automation run's plan says of them."""
    rows = Service.objects.filter(pk__in=ids).annotate(label=service_label()).order_by("pk")
    return list(rows.values_list("label", "client_id"))

from django.db.models import QuerySet

from billing.models import Client
from provisioning.models import Domain, Service

LIVE_SERVICE_STATUSES = (Service.Status.ACTIVE, Service.Status.SUSPENDED)


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


def client_domains(*, client: Client) -> QuerySet[Domain]:
    return Domain.objects.filter(client=client).select_related("currency").order_by("name")

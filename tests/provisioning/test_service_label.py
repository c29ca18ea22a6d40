"""provisioning.selectors.service_label: str(service) as the database writes it, for INSERT ... SELECT messages."""

import pytest

from provisioning.models import Service
from provisioning.selectors import service_label, service_lines
from tests.factories import ProductFactory, ServiceFactory

pytestmark = pytest.mark.django_db


def test_service_label_equals_str_of_the_service(customer, hosting):
    # Service.product is required (NOT NULL), so every service has a product name; the "Service" fallback of
    # __str__ (and of the label's COALESCE) is only reached by an unsaved service.
    odd = ProductFactory(name='Pro 100% "Plus" (EU)')
    services = [
        ServiceFactory(client=customer, product=hosting, domain="shop.example.com"),
        ServiceFactory(client=customer, product=hosting, domain=""),
        ServiceFactory(client=customer, product=odd, domain="x-ample.org"),
        ServiceFactory(client=customer, product=odd, domain=""),
    ]
    labels = dict(
        Service.objects.filter(pk__in=[s.pk for s in services])
        .annotate(label=service_label())
        .values_list("pk", "label")
    )
    fresh = Service.objects.select_related("product").in_bulk([s.pk for s in services])
    assert {pk: str(service) for pk, service in fresh.items()} == labels
    first, second, third, fourth = services
    assert labels == {
        first.pk: f"Starter #{first.pk} (shop.example.com)",
        second.pk: f"Starter #{second.pk}",
        third.pk: f'Pro 100% "Plus" (EU) #{third.pk} (x-ample.org)',
        fourth.pk: f'Pro 100% "Plus" (EU) #{fourth.pk}',
    }


def test_service_lines_give_the_labels_and_clients_in_id_order(customer, hosting):
    later, earlier = (
        ServiceFactory(client=customer, product=hosting, domain="b.example"),
        ServiceFactory(client=customer, product=hosting),
    )
    assert service_lines([earlier.pk, later.pk]) == [
        (f"Starter #{later.pk} (b.example)", customer.pk),
        (f"Starter #{earlier.pk}", customer.pk),
    ]

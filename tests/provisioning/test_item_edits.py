"""An admin's save of a service or a domain goes through service_update / domain_update: the row locked, the
changes checked as the portal checks them elsewhere, only what changed written and logged with who did it."""

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from notifications.models import ActivityLog
from provisioning.admin import DomainAdmin, ServiceAdmin
from provisioning.models import Domain, Service
from provisioning.services import DOMAIN_EDITABLE, SERVICE_EDITABLE, domain_update, service_update
from tests.factories import DomainFactory, ServiceFactory
from tests.provisioning.admin_forms import domain_form, service_form

pytestmark = pytest.mark.django_db

D = datetime.date


@pytest.fixture
def service(customer, hosting):
    return ServiceFactory(
        client=customer, product=hosting, registration_date=D(2026, 12, 1), next_due_date=D(2027, 1, 1)
    )


@pytest.fixture
def domain(customer, domain_product):
    return DomainFactory(client=customer, product=domain_product, name="mine.example", registration_date=D(2026, 1, 5))


def _post(admin_client, obj, data):
    name = "provisioning_service_change" if isinstance(obj, Service) else "provisioning_domain_change"
    return admin_client.post(reverse(f"admin:{name}", args=[obj.pk]), data)


def test_an_admin_save_is_logged_with_who_and_the_changed_fields_before_and_after(service, admin_client, admin_user):
    response = _post(admin_client, service, service_form(service, recurring_amount="5.99", username="web1"))
    assert response.status_code == 302, response.content.decode()[:2000]
    service.refresh_from_db()
    assert (service.recurring_amount, service.username) == (Decimal("5.99"), "web1")
    entry = ActivityLog.objects.get(action="service_changed")
    assert (entry.actor_id, entry.subject_id, entry.client_id) == (admin_user.pk, service.pk, service.client_id)
    assert entry.message == f"Service {service} changed: recurring amount: 4.99 → 5.99; username: none → web1"


def test_a_save_that_changes_nothing_logs_nothing(service, admin_client):
    assert _post(admin_client, service, service_form(service)).status_code == 302
    assert not ActivityLog.objects.exists()


def test_a_negative_amount_is_refused_on_the_form_and_changes_nothing(service, admin_client):
    response = _post(admin_client, service, service_form(service, recurring_amount="-1.00", username="web1"))
    assert response.status_code == 200
    assert "Recurring amount cannot be negative." in response.content.decode()
    service.refresh_from_db()
    assert (service.recurring_amount, service.username) == (Decimal("4.99"), "")
    assert not ActivityLog.objects.exists()


def test_a_domain_name_is_normalised_as_checkout_does(domain, admin_client):
    assert _post(admin_client, domain, domain_form(domain, name="Straße.Example.")).status_code == 302
    domain.refresh_from_db()
    assert domain.name == "xn--strae-oqa.example"
    assert "name: mine.example → xn--strae-oqa.example" in ActivityLog.objects.get(action="domain_changed").message


def test_a_domain_name_checkout_would_refuse_is_refused(domain, admin_client):
    response = _post(admin_client, domain, domain_form(domain, name="bad_name.example"))
    assert response.status_code == 200
    assert "is not a valid domain name" in response.content.decode()
    domain.refresh_from_db()
    assert domain.name == "mine.example"


def test_a_look_alike_name_mixing_scripts_is_refused(domain, admin_client):
    response = _post(admin_client, domain, domain_form(domain, name="\u0430pple.example"))  # Cyrillic a
    assert response.status_code == 200
    assert "mixes Cyrillic and Latin letters" in response.content.decode()
    domain.refresh_from_db()
    assert domain.name == "mine.example"


def test_a_services_domain_is_normalised_and_checked_too(service, admin_client):
    assert _post(admin_client, service, service_form(service, domain="Shop.EXAMPLE")).status_code == 302
    service.refresh_from_db()
    assert service.domain == "shop.example"
    response = _post(admin_client, service, service_form(service, domain="shop..example"))
    assert response.status_code == 200
    service.refresh_from_db()
    assert service.domain == "shop.example"


def test_the_name_of_another_live_domain_is_refused(domain, customer, admin_user):
    DomainFactory(client=customer, name="taken.example", registration_date=D(2026, 1, 5))
    with pytest.raises(ValidationError, match=r"taken\.example is already ordered or registered here"):
        domain_update(domain_id=domain.pk, actor=admin_user, name="Taken.Example")
    domain.refresh_from_db()
    assert domain.name == "mine.example" and not ActivityLog.objects.exists()


def test_the_status_is_not_edited(service, admin_user):
    with pytest.raises(ValidationError, match="moves only through its actions"):
        service_update(service_id=service.pk, actor=admin_user, status=Service.Status.TERMINATED)
    with pytest.raises(ValidationError, match="suspension reason of a service is not edited"):
        service_update(service_id=service.pk, actor=admin_user, suspension_reason="abuse")
    service.refresh_from_db()
    assert (service.status, service.suspension_reason) == ("active", "")


def test_money_is_a_decimal_and_not_negative(domain, admin_user):
    for refused in (12.5, Decimal("-0.01"), Decimal("NaN"), Decimal("1.001")):
        with pytest.raises(ValidationError, match="Recurring amount"):
            domain_update(domain_id=domain.pk, actor=admin_user, recurring_amount=refused)
    domain.refresh_from_db()
    assert domain.recurring_amount == Decimal("12.99")


def test_a_refusal_of_one_field_saves_none_of_the_others(service, admin_user):
    with pytest.raises(ValidationError):
        service_update(
            service_id=service.pk,
            actor=admin_user,
            username="web1",
            next_due_date=D(2027, 1, 15),
            first_payment_amount=Decimal("-2"),
        )
    service.refresh_from_db()
    assert (service.username, service.next_due_date) == ("", D(2027, 1, 1))
    assert not ActivityLog.objects.exists()


def test_a_moved_date_goes_through_billing_dates_set_and_the_rest_is_logged_apart(service, admin_user):
    done = service_update(service_id=service.pk, actor=admin_user, next_due_date=D(2027, 1, 15), username="web1")
    assert {(c.name, c.before, c.after) for c in done.changes} == {
        ("next_due_date", D(2027, 1, 1), D(2027, 1, 15)),
        ("username", "", "web1"),
    }
    service.refresh_from_db()
    assert (service.next_due_date, service.billing_day) == (D(2027, 1, 15), 15)
    assert set(ActivityLog.objects.values_list("action", flat=True)) == {"service_due_date_moved", "service_changed"}


@pytest.mark.parametrize(
    ("admin_class", "model", "editable"),
    [(ServiceAdmin, Service, SERVICE_EDITABLE), (DomainAdmin, Domain, DOMAIN_EDITABLE)],
)
def test_the_admin_form_offers_exactly_what_the_service_edits(admin_class, model, editable, rf, admin_user):
    from django.contrib import admin

    model_admin = admin_class(model, admin.site)
    request = rf.get("/")
    request.user = admin_user
    obj = ServiceFactory() if model is Service else DomainFactory(registration_date=D(2026, 1, 5))
    assert set(model_admin.get_form(request, obj).base_fields) == set(editable)


def test_a_services_module_is_chosen_from_the_installed_ones_and_an_unknown_name_changes_nothing(service, admin_client):
    page = admin_client.get(reverse("admin:provisioning_service_change", args=[service.pk])).content.decode()
    assert '<select name="module"' in page and '<option value="postgresql">' in page

    response = _post(admin_client, service, service_form(service, module="no_such_module", username="web1"))
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    service.refresh_from_db()
    assert (service.module, service.username) == ("", "")

    assert _post(admin_client, service, service_form(service, module="manual")).status_code == 302
    service.refresh_from_db()
    assert service.module == "manual"


def test_a_stored_module_no_longer_installed_stays_selectable_so_another_edit_keeps_it(service, admin_client):
    Service.objects.filter(pk=service.pk).update(module="retired_panel")
    service.refresh_from_db()
    page = admin_client.get(reverse("admin:provisioning_service_change", args=[service.pk])).content.decode()
    assert "retired_panel (not installed)" in page
    assert _post(admin_client, service, service_form(service, username="web2")).status_code == 302
    service.refresh_from_db()
    assert (service.module, service.username) == ("retired_panel", "web2")

"""A client (from their service's page) or an admin (the requests' list action) withdraws an open cancellation
request before the run carries it out: the service carries on, and may be asked to end again."""

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from notifications.models import ActivityLog, Event
from provisioning.models import CancellationRequest
from provisioning.services import cancellation_request, cancellation_withdraw
from tests.factories import ClientFactory, ServiceFactory

pytestmark = pytest.mark.django_db

DUE = datetime.date(2026, 12, 11)


@pytest.fixture
def service(customer, hosting):
    return ServiceFactory(client=customer, product=hosting, next_due_date=DUE)


@pytest.fixture
def asked(service):
    return cancellation_request(service_id=service.pk, when="end_of_period", reason="", actor=None)


@pytest.fixture
def logged_in(client, customer):
    client.force_login(customer.user)
    return client


def _page(client, service):
    return client.get(reverse("clientarea:service_detail", args=[service.pk])).content.decode()


def _withdraw(client, service):
    return client.post(reverse("clientarea:service_cancel_withdraw", args=[service.pk]), follow=True)


def test_the_client_withdraws_their_request_and_may_ask_again(logged_in, customer, service, asked):
    assert "Withdraw the cancellation request" in _page(logged_in, service)
    page = _withdraw(logged_in, service).content.decode()
    assert "Your cancellation request is withdrawn: the service carries on as before." in page
    assert "Request cancellation" in page and "Withdraw the cancellation request" not in page
    asked.refresh_from_db()
    assert asked.status == CancellationRequest.Status.WITHDRAWN
    entry = ActivityLog.objects.get(action="cancellation_withdrawn")
    assert (entry.actor, entry.subject_id) == (customer.user, service.pk)
    assert Event.objects.filter(name="CancellationWithdrawn", payload__request_id=asked.pk).count() == 1
    again = cancellation_request(service_id=service.pk, when="immediate", reason="", actor=None)
    assert again.status == CancellationRequest.Status.OPEN


def test_no_withdraw_button_without_an_open_request(logged_in, service):
    assert "Withdraw the cancellation request" not in _page(logged_in, service)
    page = _withdraw(logged_in, service).content.decode()
    assert "This service has no open cancellation request to withdraw." in page


def test_another_clients_service_is_not_found(client, service, asked):
    other = ClientFactory(currency=service.currency)
    client.force_login(other.user)
    assert client.post(reverse("clientarea:service_cancel_withdraw", args=[service.pk])).status_code == 404
    asked.refresh_from_db()
    assert asked.status == CancellationRequest.Status.OPEN


def test_a_request_carried_out_or_withdrawn_is_not_withdrawn(asked):
    cancellation_withdraw(request_id=asked.pk, actor=None)
    with pytest.raises(ValidationError, match="is withdrawn: only an open request can be withdrawn"):
        cancellation_withdraw(request_id=asked.pk, actor=None)
    CancellationRequest.objects.filter(pk=asked.pk).update(status=CancellationRequest.Status.DONE)
    with pytest.raises(ValidationError, match="is carried out: only an open request"):
        cancellation_withdraw(request_id=asked.pk, actor=None)


def test_the_get_takes_a_post(logged_in, service, asked):
    assert logged_in.get(reverse("clientarea:service_cancel_withdraw", args=[service.pk])).status_code == 405


def test_an_admin_withdraws_from_the_requests_list(admin_client, admin_user, asked):
    url = reverse("admin:provisioning_cancellationrequest_changelist")
    response = admin_client.post(url, {"action": "withdraw", "_selected_action": [asked.pk]}, follow=True)
    assert f"Cancellation of {asked.service} withdrawn." in response.content.decode()
    asked.refresh_from_db()
    assert asked.status == CancellationRequest.Status.WITHDRAWN
    assert ActivityLog.objects.get(action="cancellation_withdrawn").actor == admin_user


def test_staff_who_may_only_view_requests_cannot_withdraw_them(client, asked):
    from django.contrib.auth.models import Permission

    from tests.factories import UserFactory

    viewer = UserFactory(username="viewer", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_cancellationrequest"))
    client.force_login(viewer)
    url = reverse("admin:provisioning_cancellationrequest_changelist")
    client.post(url, {"action": "withdraw", "_selected_action": [asked.pk]})
    asked.refresh_from_db()
    assert asked.status == CancellationRequest.Status.OPEN
    assert not ActivityLog.objects.filter(action="cancellation_withdrawn").exists()

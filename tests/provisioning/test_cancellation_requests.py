"""Cancellation requests: immediate ones are carried out by the next run, end-of-period ones on the service's
due date, and a service being cancelled is not invoiced again."""

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from billing.models import InvoiceItem
from notifications.models import Event
from notifications.scheduler import automation_run
from provisioning.models import CancellationRequest
from provisioning.services import cancellation_request
from tests.factories import ServiceFactory

pytestmark = pytest.mark.django_db

TODAY = datetime.date(2026, 12, 1)
DUE = TODAY + datetime.timedelta(days=10)


@pytest.fixture
def service(customer, hosting):
    return ServiceFactory(client=customer, product=hosting, next_due_date=DUE)


def _run(day, *steps):
    outcome = automation_run(today=day, only=list(steps), trigger="test")
    assert outcome.ok
    return {step.name: step.counts for step in outcome.steps}


def _state(service):
    service.refresh_from_db()
    return service.status, service.termination_date


def test_an_immediate_request_is_carried_out_by_the_next_run(service):
    request = cancellation_request(service_id=service.pk, when="immediate", reason="Moving away", actor=None)
    assert Event.objects.filter(name="CancellationRequest", payload__request_id=request.pk).exists()
    assert _run(TODAY, "cancellation_requests") == {"cancellation_requests": {"services cancelled": 1}}
    assert _state(service) == ("terminated", TODAY)
    request.refresh_from_db()
    assert (request.status, request.done_on) == ("done", TODAY)
    assert _run(TODAY, "cancellation_requests") == {"cancellation_requests": {}}
    assert Event.objects.filter(name="ServiceTerminated", payload__service_id=service.pk).count() == 1


def test_an_end_of_period_request_waits_for_the_due_date_and_blocks_the_renewal_invoice(service):
    cancellation_request(service_id=service.pk, when="end_of_period", reason="", actor=None)
    day_before = DUE - datetime.timedelta(days=1)
    counts = _run(day_before, "cancellation_requests", "renewal_invoicing")
    assert counts == {"cancellation_requests": {}, "renewal_invoicing": {}}  # within the lead days, not invoiced
    assert _state(service) == ("active", None)
    assert not InvoiceItem.objects.filter(kind="service", related_id=service.pk).exists()
    assert _run(DUE, "cancellation_requests") == {"cancellation_requests": {"services cancelled": 1}}
    assert _state(service) == ("terminated", DUE)


def test_bad_requests_are_refused_with_a_reason_and_change_nothing(service):
    with pytest.raises(ValidationError, match="must be one of"):
        cancellation_request(service_id=service.pk, when="tomorrow", reason="", actor=None)
    cancellation_request(service_id=service.pk, when="end_of_period", reason="", actor=None)
    with pytest.raises(ValidationError, match="already has an open cancellation request"):
        cancellation_request(service_id=service.pk, when="immediate", reason="", actor=None)
    _run(DUE, "cancellation_requests")
    with pytest.raises(ValidationError, match="only a live service"):
        cancellation_request(service_id=service.pk, when="immediate", reason="", actor=None)
    assert CancellationRequest.objects.count() == 1


def test_a_request_for_a_service_that_ended_meanwhile_is_closed(service):
    request = cancellation_request(service_id=service.pk, when="immediate", reason="", actor=None)
    service.terminate(on=TODAY)
    service.save()
    assert _run(TODAY, "cancellation_requests") == {"cancellation_requests": {"requests closed": 1}}
    request.refresh_from_db()
    assert request.status == "done"


def test_the_admin_adds_a_request_through_the_service_and_sees_refusals(admin_client, admin_user, service):
    url = reverse("admin:provisioning_cancellationrequest_add")
    response = admin_client.post(url, {"service": service.pk, "when": "immediate", "reason": "Asked by phone"})
    assert response.status_code == 302
    request = CancellationRequest.objects.get()
    assert (request.requested_by, request.reason) == (admin_user.get_username(), "Asked by phone")
    again = admin_client.post(url, {"service": service.pk, "when": "immediate", "reason": ""})
    assert again.status_code == 200 and "already has an open cancellation request" in again.content.decode()
    assert CancellationRequest.objects.count() == 1

"""A client asks, from their service's page, for it to end at once or at the end of its billing period; the page
then says what will happen and offers no second request. Refusals are shown and change nothing."""

import datetime

import pytest
from django.urls import reverse

from notifications.models import ActivityLog, Event
from provisioning.models import CancellationRequest, Service
from tests.factories import ServiceFactory

pytestmark = pytest.mark.django_db

DUE = datetime.date(2026, 12, 11)


@pytest.fixture
def service(customer, hosting):
    return ServiceFactory(client=customer, product=hosting, next_due_date=DUE)


@pytest.fixture
def logged_in(client, customer):
    client.force_login(customer.user)
    return client


def _page(client, service):
    return client.get(reverse("clientarea:service_detail", args=[service.pk])).content.decode()


def _ask(client, service, **data):
    return client.post(reverse("clientarea:service_cancel", args=[service.pk]), data, follow=True)


def test_a_client_asks_for_the_end_of_the_period_and_the_page_says_when_it_ends(logged_in, customer, service):
    assert "Request cancellation" in _page(logged_in, service)
    response = _ask(logged_in, service, when="end_of_period", reason="  Moving to a bigger plan  ")
    page = response.content.decode()
    assert "We have your cancellation request." in page
    assert "it ends on 2026-12-11, and the period after is not billed" in page
    assert "Request cancellation" not in page  # no second request offered
    request = CancellationRequest.objects.get(service=service)
    assert (request.when, request.reason, request.status) == ("end_of_period", "Moving to a bigger plan", "open")
    assert request.requested_by == customer.user.username
    assert ActivityLog.objects.get(action="cancellation_requested").actor == customer.user
    assert Event.objects.filter(name="CancellationRequest", payload__request_id=request.pk).count() == 1


def test_an_immediate_request_says_the_next_run_ends_it(logged_in, service):
    page = _ask(logged_in, service, when="immediate").content.decode()
    assert "it ends with our next automation run" in page
    assert CancellationRequest.objects.get(service=service).when == "immediate"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"when": "tomorrow"}, "When to cancel must be one of"),
        ({}, "When to cancel must be one of"),
        ({"when": "immediate", "reason": "x" * 2001}, "The reason is too long: 2000 characters at most."),
    ],
)
def test_bad_input_is_refused_with_a_message_and_nothing_is_requested(logged_in, service, data, message):
    page = _ask(logged_in, service, **data).content.decode()
    assert message in page
    assert not CancellationRequest.objects.exists()
    assert "Request cancellation" in page  # the form is still offered


def test_a_second_request_is_refused_and_the_first_is_kept(logged_in, service):
    _ask(logged_in, service, when="end_of_period")
    page = _ask(logged_in, service, when="immediate").content.decode()
    assert "already has an open cancellation request" in page
    assert list(CancellationRequest.objects.values_list("when", flat=True)) == ["end_of_period"]


def test_an_ended_service_offers_no_cancellation_and_refuses_one(logged_in, customer, hosting):
    ended = ServiceFactory(client=customer, product=hosting, status=Service.Status.TERMINATED)
    assert "Request cancellation" not in _page(logged_in, ended)
    page = _ask(logged_in, ended, when="immediate").content.decode()
    assert "only a live service can be cancelled" in page
    assert not CancellationRequest.objects.exists()


def test_asking_takes_a_post(logged_in, service):
    assert logged_in.get(reverse("clientarea:service_cancel", args=[service.pk])).status_code == 405
    assert not CancellationRequest.objects.exists()


@pytest.mark.parametrize("reason", ["Moving\x00 on", "\x00", "Escape \x1b[31m red", "Bell\x07", "C1 \x85 next line"])
def test_a_reason_with_control_characters_is_refused_and_nothing_is_requested(logged_in, service, reason):
    page = _ask(logged_in, service, when="immediate", reason=reason).content.decode()

    assert "holds control characters" in page
    assert not CancellationRequest.objects.exists()
    assert not ActivityLog.objects.filter(action="cancellation_requested").exists()


def test_a_reason_keeps_its_line_breaks_and_tabs(logged_in, service):
    _ask(logged_in, service, when="immediate", reason="Too slow.\r\n\tAnd too dear.")

    assert CancellationRequest.objects.get(service=service).reason == "Too slow.\r\n\tAnd too dear."

"""A cancellation request's status moves only through its transitions: carried out (in bulk, by the run) or
withdrawn, both only from Open; assigning it by hand is refused."""

import datetime

import pytest
from django_fsm import TransitionNotAllowed

from core.fsm import transition_in_bulk
from provisioning.models import CancellationRequest
from tests.factories import ServiceFactory

pytestmark = pytest.mark.django_db

DAY = datetime.date(2026, 12, 6)


def _request() -> CancellationRequest:
    return CancellationRequest.objects.create(
        service=ServiceFactory(), when=CancellationRequest.When.IMMEDIATE, requested_by="system"
    )


def test_the_status_cannot_be_assigned_by_hand():
    request = _request()
    with pytest.raises(AttributeError):
        request.status = CancellationRequest.Status.DONE


def test_carrying_out_in_bulk_closes_the_open_requests_with_the_day():
    requests = [_request(), _request()]
    moved = transition_in_bulk(CancellationRequest.objects.all(), "carry_out", on=DAY)
    assert sorted(moved) == sorted(r.pk for r in requests)
    for request in requests:
        request.refresh_from_db()
        assert (request.status, request.done_on) == (CancellationRequest.Status.DONE, DAY)


@pytest.mark.parametrize(
    "first, then", [("withdraw", "carry_out"), ("carry_out", "withdraw"), ("withdraw", "withdraw")]
)
def test_a_closed_request_moves_no_further(first, then):
    request = _request()
    getattr(request, first)(**({"on": DAY} if first == "carry_out" else {}))
    request.save()
    with pytest.raises(TransitionNotAllowed):
        getattr(request, then)(**({"on": DAY} if then == "carry_out" else {}))

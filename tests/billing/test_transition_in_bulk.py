"""core.fsm.transition_in_bulk: a model's own FSM transition applied to many rows in one UPDATE per source
status. Only the rows the transition allows move, and what the transition's body sets is written to them."""

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.fsm import transition_in_bulk
from provisioning.models import Service
from tests.factories import ServiceFactory

pytestmark = pytest.mark.django_db

S = Service.Status
ON = datetime.date(2027, 1, 31)


@pytest.fixture
def make(customer, hosting):
    def _make(status, reason="", domain=""):
        return ServiceFactory(client=customer, product=hosting, status=status, suspension_reason=reason, domain=domain)

    return _make


def _rows(*services):
    """(status, suspension reason, termination date) of each, fresh from the database."""
    by_pk = {
        pk: rest
        for pk, *rest in Service.objects.filter(pk__in=[s.pk for s in services]).values_list(
            "pk", "status", "suspension_reason", "termination_date"
        )
    }
    return [tuple(by_pk[s.pk]) for s in services]


def _everyone(*services):
    return Service.objects.filter(pk__in=[s.pk for s in services])


def test_suspend_moves_the_active_rows_only_and_writes_the_reason(make):
    active_1, active_2 = make(S.ACTIVE), make(S.ACTIVE)
    pending, terminated, suspended = make(S.PENDING), make(S.TERMINATED), make(S.SUSPENDED, reason="abuse")

    with CaptureQueriesContext(connection) as queries:
        moved = transition_in_bulk(
            _everyone(active_1, pending, active_2, terminated, suspended), "suspend", reason="overdue"
        )

    assert sorted(moved) == sorted([active_1.pk, active_2.pk])
    assert _rows(active_1, active_2, pending, terminated, suspended) == [
        ("suspended", "overdue", None),
        ("suspended", "overdue", None),
        ("pending", "", None),
        ("terminated", "", None),
        ("suspended", "abuse", None),  # not Active: suspend does not apply, its reason stays
    ]
    assert len(queries) == 2  # the read and one UPDATE for the one source status


def test_unsuspend_writes_the_reason_back_to_the_fields_default(make):
    overdue, abuse, active = make(S.SUSPENDED, reason="overdue"), make(S.SUSPENDED, reason="abuse"), make(S.ACTIVE)
    moved = transition_in_bulk(_everyone(overdue, abuse, active), "unsuspend")
    assert sorted(moved) == sorted([overdue.pk, abuse.pk])
    # "" equals the field's default, and is written all the same.
    assert _rows(overdue, abuse, active) == [("active", "", None), ("active", "", None), ("active", "", None)]


def test_terminate_moves_each_source_status_and_writes_the_date(make):
    active, suspended = make(S.ACTIVE), make(S.SUSPENDED, reason="overdue")
    pending, cancelled = make(S.PENDING), make(S.CANCELLED)

    with CaptureQueriesContext(connection) as queries:
        moved = transition_in_bulk(_everyone(active, suspended, pending, cancelled), "terminate", on=ON)

    assert sorted(moved) == sorted([active.pk, suspended.pk])
    assert _rows(active, suspended, pending, cancelled) == [
        ("terminated", "", ON),
        ("terminated", "", ON),
        ("pending", "", None),
        ("cancelled", "", None),
    ]
    assert len(queries) == 3  # the read, and one UPDATE per source status (Active, Suspended)


def test_only_what_the_transition_sets_is_written(make):
    service = make(S.ACTIVE, domain="keep.example")
    Service.objects.filter(pk=service.pk).update(next_due_date=datetime.date(2027, 2, 1), username="keep")
    assert transition_in_bulk(_everyone(service), "suspend", reason="admin") == [service.pk]
    service.refresh_from_db()
    assert (service.status, service.suspension_reason) == ("suspended", "admin")
    assert (service.domain, service.username, service.next_due_date) == (
        "keep.example",
        "keep",
        datetime.date(2027, 2, 1),
    )
    assert service.recurring_amount == Decimal("4.99") and service.termination_date is None


def test_no_row_that_allows_it_moves_nothing(make):
    pending = make(S.PENDING)
    with CaptureQueriesContext(connection) as queries:
        assert transition_in_bulk(_everyone(pending), "suspend", reason="overdue") == []
    assert len(queries) == 1 and _rows(pending) == [("pending", "", None)]
    assert transition_in_bulk(Service.objects.filter(pk__any=[]), "terminate", on=ON) == []


def test_a_transition_with_conditions_is_refused(make):
    active = make(S.ACTIVE)

    def throwaway_check(instance):
        return True

    transition = Service.suspend._django_fsm.transitions[S.ACTIVE]
    kept = transition.conditions
    transition.conditions = [throwaway_check]
    try:
        with pytest.raises(ValueError, match="suspend has conditions"):
            transition_in_bulk(_everyone(active), "suspend", reason="overdue")
    finally:
        transition.conditions = kept
    assert _rows(active) == [("active", "", None)]
    assert transition_in_bulk(_everyone(active), "suspend", reason="overdue") == [active.pk]  # restored

"""core.fsm.transition_in_bulk: a model's own FSM transition applied to many rows in one UPDATE per source
status. Only the rows the transition allows move, and what the transition's body sets is written to them."""

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import QuerySet
from django.test.utils import CaptureQueriesContext
from django_fsm import ConcurrentTransition, transition

from core.fsm import BulkTransitionRefused, StandInRead, transition_in_bulk
from provisioning.models import Domain, Service
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
        with pytest.raises(BulkTransitionRefused, match="suspend has conditions"):
            transition_in_bulk(_everyone(active), "suspend", reason="overdue")
    finally:
        transition.conditions = kept
    assert _rows(active) == [("active", "", None)]
    assert transition_in_bulk(_everyone(active), "suspend", reason="overdue") == [active.pk]  # restored


# --- opt-in per transition ----------------------------------------------------------------------------------------


def test_a_transition_not_marked_for_bulk_use_is_refused(make):
    pending = make(S.PENDING)
    with pytest.raises(BulkTransitionRefused, match=r"Service\.activate is not marked for bulk use"):
        transition_in_bulk(_everyone(pending), "activate")
    assert _rows(pending) == [("pending", "", None)]


def test_the_marker_is_per_transition_and_per_source(make):
    """Taking the marker off one source of terminate (Suspended) refuses the whole call, Active rows included."""
    active = make(S.ACTIVE)
    custom = Service.terminate._django_fsm.transitions[S.SUSPENDED].custom
    kept = dict(custom)
    custom.clear()
    try:
        with pytest.raises(BulkTransitionRefused, match="terminate is not marked"):
            transition_in_bulk(_everyone(active), "terminate", on=ON)
    finally:
        custom.update(kept)
    assert _rows(active) == [("active", "", None)]


@pytest.mark.parametrize(
    ("model", "name"),
    [(Service, "suspend"), (Service, "unsuspend"), (Service, "terminate"), (Domain, "expire"), (Domain, "renew")],
)
def test_the_transitions_used_in_bulk_today_are_marked(model, name):
    assert all(t.custom.get("bulk") for t in getattr(model, name)._django_fsm.transitions.values())


# --- an UPDATE that moves fewer rows than were read ---------------------------------------------------------------

_after_read: list = []


class _ChangedAfterRead(QuerySet):
    """A queryset whose read is followed, before transition_in_bulk's UPDATE, by another writer's change."""

    def _fetch_all(self):
        super()._fetch_all()
        while _after_read:
            _after_read.pop()()


def test_rows_that_changed_status_after_the_read_raise(make):
    active_1, active_2 = make(S.ACTIVE), make(S.ACTIVE)
    _after_read.append(lambda: Service.objects.filter(pk=active_2.pk).update(status=S.TERMINATED))
    rows = _ChangedAfterRead(model=Service).filter(pk__in=[active_1.pk, active_2.pk])
    with pytest.raises(ConcurrentTransition, match="1 of 2 rows in status 'active' changed"):
        transition_in_bulk(rows, "suspend", reason="overdue")


# --- the stand-in has nothing but the transition's arguments ------------------------------------------------------


def _reads_the_domain(self, *, reason):
    """A transition whose effect depends on the row: in bulk it would write one row's answer to all."""
    self.suspension_reason = reason if self.domain else Service.SuspensionReason.ABUSE


def test_a_transition_that_reads_a_field_it_was_not_given_raises(make, monkeypatch):
    with_domain = make(S.ACTIVE, domain="keep.example")
    status = Service._meta.get_field("status")
    reading = transition(field=status, source=S.ACTIVE, target=S.SUSPENDED, custom={"bulk": True})(_reads_the_domain)
    monkeypatch.setattr(Service, "suspend_reading", reading, raising=False)
    with pytest.raises(StandInRead, match=r"Service\.suspend_reading reads 'domain'"):
        transition_in_bulk(_everyone(with_domain), "suspend_reading", reason="overdue")
    assert _rows(with_domain) == [("active", "", None)]


def test_a_stand_in_reads_the_models_constants(make):
    """unsuspend reads Service.SuspensionReason.NONE: a class attribute, not the row's."""
    suspended = make(S.SUSPENDED, reason="overdue")
    assert transition_in_bulk(_everyone(suspended), "unsuspend") == [suspended.pk]

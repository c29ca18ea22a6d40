"""Domain expiry: active domains past their expiry date become Expired, each with its activity entry and its
DomainExpired event, in a number of queries that does not grow with the domains."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from automation.scheduler import automation_run
from notifications.models import ActivityLog, Event
from provisioning.models import Domain
from tests.factories import ClientFactory, DomainFactory

pytestmark = pytest.mark.django_db

DAY = datetime.date(2026, 12, 10)


YESTERDAY = DAY - datetime.timedelta(days=1)


def _expire(day=DAY):
    outcome = automation_run(today=day, only=["domain_expiry"], trigger="test")
    assert outcome.ok
    return outcome.steps[0]


def test_each_expired_domain_gets_its_entry_and_event_and_the_others_are_left(customer):
    gone = DomainFactory(client=customer, expiry_date=YESTERDAY)
    last_day = DomainFactory(client=customer, expiry_date=DAY)
    ended = DomainFactory(client=customer, expiry_date=YESTERDAY, status=Domain.Status.CANCELLED)
    step = _expire()
    assert step.counts == {"domains expired": 1}
    assert step.plan == [f"{gone.name} (client #{customer.pk}) expired on 2026-12-09"]
    statuses = dict(Domain.objects.values_list("pk", "status"))
    assert statuses == {gone.pk: "expired", last_day.pk: "active", ended.pk: "cancelled"}
    entry = ActivityLog.objects.get(action="domain_expired")
    assert (entry.subject_type, entry.subject_id, entry.client_id, entry.actor_label) == (
        "provisioning.domain",
        gone.pk,
        customer.pk,
        "system",
    )
    assert entry.message == f"Domain {gone.name} expired on 2026-12-09"
    assert Event.objects.get(name="DomainExpired").payload == {
        "domain_id": gone.pk,
        "client_id": customer.pk,
        "expiry_date": "2026-12-09",
    }
    assert _expire().counts == {}  # once


def test_queries_grow_with_batches_not_with_domains(usd):
    def queries_for(count):
        DomainFactory.create_batch(count, client=ClientFactory(currency=usd), expiry_date=YESTERDAY)
        with CaptureQueriesContext(connection) as queries:
            assert _expire().counts == {"domains expired": count}
        return len(queries)

    queries_for(1)  # the first run of a test database creates the settings row
    assert queries_for(2) == queries_for(40)

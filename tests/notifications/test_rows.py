"""insert_rows and update_rows: the same rows on PostgreSQL (COPY, unnest) as through the ORM elsewhere."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.rows import insert_rows, update_rows
from notifications.models import ActivityLog, Event

pytestmark = pytest.mark.django_db


def test_insert_rows_returns_the_new_ids_in_order_and_fills_the_defaults():
    ids = insert_rows(Event, [{"name": f"E{n}", "payload": {"n": n, "nested": [n]}} for n in range(30)], ids=True)
    assert len(ids) == 30 and len(set(ids)) == 30
    stored = {e.pk: e for e in Event.objects.filter(pk__in=ids)}
    assert [stored[pk].name for pk in ids] == [f"E{n}" for n in range(30)]
    assert stored[ids[7]].payload == {"n": 7, "nested": [7]}  # JSON kept as JSON
    assert all(e.created_at is not None and e.dispatched_at is None for e in stored.values())  # defaults


def test_insert_rows_is_one_statement_per_batch():
    with CaptureQueriesContext(connection) as queries:
        insert_rows(
            ActivityLog,
            [{"actor_label": "system", "action": "x", "subject_type": "a.b", "message": str(n)} for n in range(100)],
        )
    assert len(queries) == 1 and ActivityLog.objects.count() == 100  # (SQLite splits past 999 values)


def test_insert_rows_refuses_a_row_without_a_required_value():
    from django.db import IntegrityError, transaction

    from billing.models import LateFee

    with pytest.raises((ValueError, IntegrityError)), transaction.atomic():  # a number with no default: no guess
        insert_rows(LateFee, [{"invoice_id": 1, "applied_on": datetime.date(2027, 1, 1)}])
    assert not LateFee.objects.exists()


def test_update_rows_sets_each_rows_own_values():
    ids = insert_rows(Event, [{"name": f"E{n}", "payload": {}} for n in range(5)], ids=True)
    when = datetime.datetime(2027, 1, 1, tzinfo=datetime.UTC)
    update_rows(Event, ["name", "dispatched_at"], [(pk, f"renamed {pk}", when) for pk in ids[:3]])
    rows = dict(Event.objects.filter(pk__in=ids).values_list("pk", "name"))
    assert [rows[pk] for pk in ids] == [f"renamed {ids[0]}", f"renamed {ids[1]}", f"renamed {ids[2]}", "E3", "E4"]
    assert Event.objects.filter(pk__in=ids, dispatched_at=when).count() == 3

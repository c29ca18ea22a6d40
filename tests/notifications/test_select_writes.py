"""emit_select, activity_record_select and email_queue_select: events, activity rows and emails the database makes
from a queryset's rows, as emit_many, activity_record_many and email_queue_many would have written them."""

import datetime
from decimal import Decimal

import pytest
from django.db import transaction
from django.db.models import CharField, F, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone

from core.rows import decimal_text
from notifications.bus import emit_select, handlers_for
from notifications.models import ActivityLog, Event, HandlerRun, OutboundEmail
from notifications.services import activity_record_select, email_queue_select
from provisioning.models import Service
from tests.factories import ServiceFactory, UserFactory

pytestmark = pytest.mark.django_db

D = Decimal


@pytest.fixture
def services(customer, hosting):
    return [
        ServiceFactory(client=customer, product=hosting, domain="a.example", recurring_amount=D("4.99")),
        ServiceFactory(client=customer, product=hosting, domain="", recurring_amount=D("12.50")),
    ]


@pytest.fixture(autouse=True)
def _richer_suspension_event(monkeypatch):
    """These tests build payloads of every expression kind (text, Decimal, a joined column), more than the catalog's
    ServiceSuspended declares: the entry is widened for them only, as emit() checks fields against it."""
    from notifications.events import CATALOG, MONEY, TEXT, EventSpec

    spec = CATALOG["ServiceSuspended"]
    monkeypatch.setitem(
        CATALOG, "ServiceSuspended", EventSpec(spec.description, {**spec.fields, "domain": TEXT, "amount": MONEY})
    )


def _payload():
    return {
        "service_id": F("pk"),
        "client_id": F("client_id"),
        "domain": F("domain"),
        "reason": Value("overdue"),
        "amount": decimal_text("recurring_amount", Service._meta.get_field("recurring_amount")),
    }


def _expected(services):
    return [
        {
            "service_id": service.pk,
            "client_id": service.client_id,
            "domain": service.domain,
            "reason": "overdue",
            "amount": str(Service.objects.get(pk=service.pk).recurring_amount),
        }
        for service in services
    ]


def _payloads(name):
    return sorted(Event.objects.filter(name=name).values_list("payload", flat=True), key=lambda p: p["service_id"])


# --- emit_select -----------------------------------------------------------------------------------------------


def test_emit_select_without_a_handler_stores_one_dispatched_event_per_row(
    services, django_capture_on_commit_callbacks
):
    assert handlers_for("ServiceSuspended") == []
    before = timezone.now()
    rows = Service.objects.filter(pk__in=[s.pk for s in services])
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert emit_select("ServiceSuspended", rows, _payload()) == 2
    assert callbacks == []  # nobody listens: no dispatch task
    assert _payloads("ServiceSuspended") == _expected(services)
    assert _payloads("ServiceSuspended")[0]["amount"] == "4.99"
    assert all(type(p["service_id"]) is int and type(p["client_id"]) is int for p in _payloads("ServiceSuspended"))
    for created_at, dispatched_at in Event.objects.values_list("created_at", "dispatched_at"):
        assert dispatched_at is not None and before <= created_at <= timezone.now()


def test_emit_select_with_a_handler_stores_undispatched_events_and_dispatches_them_after_commit(
    services, handlers, django_capture_on_commit_callbacks
):
    heard = []

    @handlers("ServiceSuspended")
    def listener(event):
        heard.append((event.payload["service_id"], event.payload["amount"]))

    rows = Service.objects.filter(pk__in=[s.pk for s in services])
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        assert emit_select("ServiceSuspended", rows, _payload()) == 2
        assert Event.objects.filter(dispatched_at__isnull=True).count() == 2  # not yet dispatched
        assert heard == []  # nothing before commit
    assert len(callbacks) == 1  # one dispatch task for the lot
    assert sorted(heard) == [(services[0].pk, "4.99"), (services[1].pk, "12.50")]
    assert _payloads("ServiceSuspended") == _expected(services)
    assert not Event.objects.filter(dispatched_at__isnull=True).exists()
    assert HandlerRun.objects.filter(status=HandlerRun.Status.SUCCEEDED).count() == 2


def test_emit_select_of_no_rows_records_nothing_and_sends_no_task(handlers, django_capture_on_commit_callbacks, db):
    @handlers("ServiceSuspended")
    def listener(event):
        pass

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert emit_select("ServiceSuspended", Service.objects.filter(pk__any=[]), _payload()) == 0
    assert callbacks == [] and not Event.objects.exists()


def test_emit_select_refuses_an_unknown_event(services):
    with pytest.raises(ValueError, match="Unknown event"):
        emit_select("ServiceSuspendd", Service.objects.filter(pk=services[0].pk), _payload())
    assert not Event.objects.exists()


# --- activity_record_select ------------------------------------------------------------------------------------


def _message():
    return Concat(Value("Service "), Cast("pk", CharField()), Value(" suspended"))


def test_activity_record_select_writes_one_entry_per_row_for_the_system(customer, services):
    rows = Service.objects.filter(pk__in=[s.pk for s in services])
    written = activity_record_select(
        actor=None,
        action="service_suspended",
        subject_type="provisioning.service",
        queryset=rows,
        subject_id=F("pk"),
        client_id=F("client_id"),
        message=_message(),
    )
    assert written == 2
    entries = list(
        ActivityLog.objects.order_by("subject_id").values_list(
            "actor_id", "actor_label", "action", "subject_type", "subject_id", "client_id", "message"
        )
    )
    assert entries == [
        (None, "system", "service_suspended", "provisioning.service", s.pk, customer.pk, f"Service {s.pk} suspended")
        for s in services
    ]
    assert all(abs(timezone.now() - e.created_at) < datetime.timedelta(minutes=1) for e in ActivityLog.objects.all())


def test_activity_record_select_names_a_logged_in_actor(services):
    admin = UserFactory(username="admin@example.com")
    written = activity_record_select(
        actor=admin,
        action="service_suspended",
        subject_type="provisioning.service",
        queryset=Service.objects.filter(pk=services[1].pk),
        subject_id=F("pk"),
        client_id=None,
        message=_message(),
    )
    assert written == 1
    entry = ActivityLog.objects.get()
    assert (entry.actor_id, entry.actor_label, entry.client_id, entry.subject_id) == (
        admin.pk,
        "admin@example.com",
        None,
        services[1].pk,
    )


# --- email_queue_select ----------------------------------------------------------------------------------------


def _queue(services):
    return email_queue_select(
        queryset=Service.objects.filter(pk__in=[s.pk for s in services]),
        template=Value("service_suspended"),
        to_address=F("client__email"),
        idempotency_key=Concat(Value("suspended:"), Cast("pk", CharField())),
        context={
            "service_id": F("pk"),
            "domain": F("domain"),
            "amount": decimal_text("recurring_amount", Service._meta.get_field("recurring_amount")),
        },
        client_id=F("client_id"),
    )


def test_email_queue_select_queues_once_per_idempotency_key(customer, services):
    first, second = services
    OutboundEmail.objects.create(
        template="older", to_address="old@example.com", idempotency_key=f"suspended:{second.pk}", context={"x": 1}
    )
    assert _queue(services) == 1  # the second was queued before
    email = OutboundEmail.objects.get(idempotency_key=f"suspended:{first.pk}")
    assert (email.template, email.to_address, email.client_id, email.status) == (
        "service_suspended",
        customer.email,
        customer.pk,
        OutboundEmail.Status.QUEUED,
    )
    assert email.context == {"service_id": first.pk, "domain": "a.example", "amount": "4.99"}
    older = OutboundEmail.objects.get(idempotency_key=f"suspended:{second.pk}")
    assert (older.template, older.to_address, older.context) == ("older", "old@example.com", {"x": 1})

    assert _queue(services) == 0  # again: both keys queued already
    assert OutboundEmail.objects.count() == 2


def test_email_queue_select_returns_how_many_were_queued(customer, services):
    assert _queue(services) == 2
    contexts = sorted(OutboundEmail.objects.values_list("context", flat=True), key=lambda c: c["service_id"])
    assert [(c["domain"], c["amount"]) for c in contexts] == [("a.example", "4.99"), ("", "12.50")]

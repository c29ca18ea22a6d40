"""insert_select (INSERT ... SELECT made by the database), decimal_text and the `__any` lookup: the same rows and
values on SQLite and PostgreSQL."""

import datetime
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models import CharField, F, Value
from django.db.models.functions import Cast, Concat, JSONObject
from django.utils import timezone

from billing.models import Invoice, InvoiceItem
from core.rows import decimal_text, insert_select
from notifications.models import ActivityLog, Event, OutboundEmail
from provisioning.models import Service
from tests.factories import InvoiceFactory, ServiceFactory

pytestmark = pytest.mark.django_db

D = Decimal
ISSUED, DUE = datetime.date(2026, 12, 1), datetime.date(2026, 12, 15)


@pytest.fixture
def services(customer, hosting):
    return [
        ServiceFactory(client=customer, product=hosting, domain="a.example"),
        ServiceFactory(client=customer, product=hosting, domain=""),
        ServiceFactory(client=customer, product=hosting, domain="c.example"),
    ]


# --- insert_select ---------------------------------------------------------------------------------------------


def test_expression_columns_are_computed_per_row_and_omitted_fields_get_their_defaults(customer, services):
    first, _, third = services
    before = timezone.now()
    written = insert_select(
        ActivityLog,
        Service.objects.filter(pk__in=[first.pk, third.pk]),
        # Not in the table's column order: each value must still land in its own column.
        {
            "message": Concat(Value("Service "), Cast("pk", CharField()), Value(" on "), F("domain")),
            "client_id": F("client_id"),
            "subject_id": F("pk"),
            "subject_type": "provisioning.service",
            "action": Value("probe"),
            "actor_label": "system",
        },
    )
    assert written == 2  # without `returning`: the count
    rows = list(
        ActivityLog.objects.order_by("subject_id").values_list(
            "subject_id", "client_id", "subject_type", "action", "actor_label", "actor_id", "message"
        )
    )
    assert rows == [
        (first.pk, customer.pk, "provisioning.service", "probe", "system", None, f"Service {first.pk} on a.example"),
        (third.pk, customer.pk, "provisioning.service", "probe", "system", None, f"Service {third.pk} on c.example"),
    ]
    created = list(ActivityLog.objects.values_list("created_at", flat=True))
    assert all(before <= moment <= timezone.now() for moment in created)  # created_at: its default, now


def test_a_json_object_column_keeps_ints_as_ints_and_strings_as_strings(customer, services):
    first, second, _ = services
    insert_select(
        Event,
        Service.objects.filter(pk__in=[first.pk, second.pk]),
        {
            "name": "ServiceSuspended",
            "payload": JSONObject(service_id=F("pk"), client_id=F("client_id"), domain=F("domain"), reason=Value("x")),
        },
    )
    payloads = sorted(Event.objects.values_list("payload", flat=True), key=lambda payload: payload["service_id"])
    assert payloads == [
        {"service_id": first.pk, "client_id": customer.pk, "domain": "a.example", "reason": "x"},
        {"service_id": second.pk, "client_id": customer.pk, "domain": "", "reason": "x"},
    ]
    assert all(type(payload["service_id"]) is int for payload in payloads)


def test_omitted_fields_with_defaults_and_none_columns(customer, services):
    first, _, _ = services
    insert_select(
        OutboundEmail,
        Service.objects.filter(pk=first.pk),
        {
            "template": "probe",
            "to_address": F("client__email"),
            "idempotency_key": Concat(Value("probe:"), Cast("pk", CharField())),
            "client_id": None,  # left NULL
            # context, status and created_at left out: their defaults
        },
    )
    email = OutboundEmail.objects.get()
    assert (email.template, email.to_address, email.idempotency_key) == ("probe", customer.email, f"probe:{first.pk}")
    assert (email.client_id, email.context, email.status) == (None, {}, OutboundEmail.Status.QUEUED)
    assert abs(timezone.now() - email.created_at) < datetime.timedelta(minutes=1)

    insert_select(Event, Service.objects.filter(pk=first.pk), {"name": "ServiceSuspended", "dispatched_at": None})
    event = Event.objects.get()
    assert (event.payload, event.dispatched_at) == ({}, None)
    assert abs(timezone.now() - event.created_at) < datetime.timedelta(minutes=1)


def _email_columns():
    return {
        "template": "probe",
        "to_address": F("client__email"),
        "idempotency_key": Concat(Value("probe:"), Cast("pk", CharField())),
        "context": JSONObject(service_id=F("pk")),
        "client_id": F("client_id"),
    }


def test_ignore_conflicts_skips_a_row_that_clashes_and_returning_gives_the_written_rows_only(services):
    first, second, third = services
    OutboundEmail.objects.create(
        template="earlier", to_address="old@example.com", idempotency_key=f"probe:{second.pk}", context={"old": 1}
    )
    rows = insert_select(
        OutboundEmail,
        Service.objects.filter(pk__in=[first.pk, second.pk, third.pk]),
        _email_columns(),
        ignore_conflicts=True,
        returning=("idempotency_key", "client_id"),
    )
    assert sorted(rows) == [(f"probe:{first.pk}", first.client_id), (f"probe:{third.pk}", third.client_id)]
    assert OutboundEmail.objects.count() == 3
    earlier = OutboundEmail.objects.get(idempotency_key=f"probe:{second.pk}")
    assert (earlier.template, earlier.to_address, earlier.context) == ("earlier", "old@example.com", {"old": 1})

    # Again: every row clashes now, none is written.
    again = Service.objects.filter(pk__in=[first.pk, second.pk, third.pk])
    assert insert_select(OutboundEmail, again, _email_columns(), ignore_conflicts=True) == 0
    assert insert_select(OutboundEmail, again, _email_columns(), ignore_conflicts=True, returning=("id",)) == []
    assert OutboundEmail.objects.count() == 3


def test_without_ignore_conflicts_a_clash_is_an_error_and_nothing_is_written(services):
    first, second, _ = services
    OutboundEmail.objects.create(template="earlier", to_address="old@example.com", idempotency_key=f"probe:{second.pk}")
    with pytest.raises(IntegrityError), transaction.atomic():
        insert_select(OutboundEmail, Service.objects.filter(pk__in=[first.pk, second.pk]), _email_columns())
    assert list(OutboundEmail.objects.values_list("idempotency_key", flat=True)) == [f"probe:{second.pk}"]


def test_returning_ids_gives_the_new_rows_ids(services):
    first, _, third = services
    rows = insert_select(
        Event,
        Service.objects.filter(pk__in=[first.pk, third.pk]),
        {"name": "ServiceSuspended", "payload": JSONObject(service_id=F("pk"))},
        returning=("id",),
    )
    ids = [row[0] for row in rows]
    assert sorted(ids) == sorted(Event.objects.values_list("pk", flat=True)) and len(ids) == 2
    assert sorted(Event.objects.filter(pk__in=ids).values_list("payload__service_id", flat=True)) == [
        first.pk,
        third.pk,
    ]


def test_an_unfiltered_queryset_is_refused(services):
    with pytest.raises(ValueError, match="filtered queryset"):
        insert_select(Event, Service.objects.all(), {"name": "ServiceSuspended"})
    with pytest.raises(ValueError, match="filtered queryset"):
        insert_select(Event, Service.objects.order_by("pk"), {"name": "ServiceSuspended"})
    assert not Event.objects.exists()


def test_a_filter_that_compiles_to_no_where_is_refused_too(services):
    # exclude(pk__in=[]) matches every row and leaves no WHERE: SQLite could not read ON CONFLICT after it.
    with pytest.raises(ValueError, match="filtered queryset"):
        insert_select(Event, Service.objects.exclude(pk__in=[]), {"name": "ServiceSuspended"}, ignore_conflicts=True)
    assert not Event.objects.exists()


def test_a_none_for_a_field_with_a_default_writes_null_not_the_default(services):
    first, _, _ = services
    rows = insert_select(
        Event,
        Service.objects.filter(pk=first.pk),
        {"name": "ServiceSuspended", "dispatched_at": None, "payload": {"plain": "dict"}},
        returning=("dispatched_at", "payload"),
    )
    # A plain value is adapted through its field (a dict for a JSON column).
    assert Event.objects.get().payload == {"plain": "dict"}
    assert rows[0][0] is None
    email = insert_select(
        OutboundEmail,
        Service.objects.filter(pk=first.pk),
        {**_email_columns(), "client_id": None},
        returning=("client_id", "status"),
    )
    assert email == [(None, OutboundEmail.Status.QUEUED)]


def test_a_filter_matching_nothing_writes_nothing(services):
    assert insert_select(Event, Service.objects.filter(pk__any=[]), {"name": "ServiceSuspended"}) == 0
    assert insert_select(Event, Service.objects.filter(pk__in=[]), {"name": "ServiceSuspended"}) == 0
    assert insert_select(Event, Service.objects.filter(domain="nowhere"), {"name": "X"}, returning=("id",)) == []
    assert not Event.objects.exists()


# --- decimal_text ----------------------------------------------------------------------------------------------

AMOUNTS = ["5.00", "12.50", "0.05", "1234567.89", "-3.10"]


def test_decimal_text_gives_the_fields_places_as_str_of_the_decimal_does(customer):
    invoice = InvoiceFactory(client=customer, amounts=AMOUNTS, issue_date=ISSUED, due_date=DUE)
    amount = InvoiceItem._meta.get_field("amount")
    texts = list(
        InvoiceItem.objects.filter(invoice=invoice)
        .annotate(text=decimal_text("amount", amount))
        .order_by("pk")
        .values_list("text", "amount")
    )
    assert [text for text, _ in texts] == AMOUNTS
    assert all(text == str(value) for text, value in texts)  # what str() of the Decimal read gives

    # Across a relation, and a field with four places.
    row = (
        InvoiceItem.objects.filter(invoice=invoice)
        .annotate(
            total=decimal_text("invoice__total", Invoice._meta.get_field("total")),
            rate=decimal_text("invoice__tax_1_rate", Invoice._meta.get_field("tax_1_rate")),
        )
        .values_list("total", "rate")
        .first()
    )
    assert row == ("1234582.34", "0.0000")


def test_decimal_text_of_null_is_null_on_both_databases(customer):
    invoice = InvoiceFactory(client=customer, amounts=("5.00",), issue_date=ISSUED, due_date=DUE)
    ActivityLog.objects.filter(subject_id=invoice.pk).update(subject_id=None)
    texts = ActivityLog.objects.filter(subject_id__isnull=True).annotate(
        text=decimal_text("subject_id", InvoiceItem._meta.get_field("amount"))
    )
    assert list(texts.values_list("text", flat=True)) == [None]


def test_decimal_text_in_a_json_payload_made_by_the_database(customer):
    invoice = InvoiceFactory(client=customer, amounts=("5.00", "12.50"), issue_date=ISSUED, due_date=DUE)
    insert_select(
        Event,
        InvoiceItem.objects.filter(invoice=invoice),
        {
            "name": "AddInvoiceLateFee",
            "payload": JSONObject(
                item_id=F("pk"), amount=decimal_text("amount", InvoiceItem._meta.get_field("amount"))
            ),
        },
    )
    late = Event.objects.filter(name="AddInvoiceLateFee")
    payloads = sorted(late.values_list("payload", flat=True), key=lambda payload: payload["item_id"])
    assert [payload["amount"] for payload in payloads] == ["5.00", "12.50"]


# --- the __any lookup ------------------------------------------------------------------------------------------


def test_any_gives_the_same_rows_as_in(customer):
    invoices = [
        InvoiceFactory(client=customer, amounts=("1.00", "2.00"), issue_date=ISSUED, due_date=DUE) for _ in range(4)
    ]
    chosen = [invoices[0].pk, invoices[2].pk, invoices[3].pk, 10**9]  # an id that does not exist is harmless

    def ids(queryset):
        return sorted(queryset.values_list("pk", flat=True))

    assert (
        ids(Invoice.objects.filter(pk__any=chosen)) == ids(Invoice.objects.filter(pk__in=chosen)) == sorted(chosen[:3])
    )
    assert ids(Invoice.objects.filter(id__any=chosen)) == sorted(chosen[:3])
    assert ids(Invoice.objects.exclude(pk__any=chosen)) == [invoices[1].pk]
    # On a foreign key, by attname and by name.
    by_attname = ids(InvoiceItem.objects.filter(invoice_id__any=chosen))
    assert by_attname == ids(InvoiceItem.objects.filter(invoice_id__in=chosen))
    assert by_attname == ids(InvoiceItem.objects.filter(invoice__any=chosen))
    assert len(by_attname) == 6
    assert ids(Invoice.objects.filter(client_id__any=[customer.pk])) == sorted(i.pk for i in invoices)


def test_any_with_an_empty_list_matches_nothing(customer):
    InvoiceFactory(client=customer, amounts=("1.00",), issue_date=ISSUED, due_date=DUE)
    assert not Invoice.objects.filter(pk__any=[]).exists()
    assert not InvoiceItem.objects.filter(invoice_id__any=[]).exists()
    assert Invoice.objects.exclude(pk__any=[]).count() == 1
    assert Invoice.objects.filter(pk__any=[]).update(notes="x") == 0


@pytest.mark.postgres
def test_on_postgresql_any_sends_the_ids_as_one_parameter(customer):
    assert connection.vendor == "postgresql"
    invoice = InvoiceFactory(client=customer, amounts=("1.00",), issue_date=ISSUED, due_date=DUE)
    ids = [invoice.pk, *range(10**8, 10**8 + 300)]
    sql, params = Invoice.objects.filter(pk__any=ids).query.sql_with_params()
    assert "= ANY(%s::bigint[])" in sql and sql.count("%s") == 1
    assert params == ("{" + ",".join(map(str, ids)) + "}",)
    sql, params = InvoiceItem.objects.filter(invoice_id__any=ids).query.sql_with_params()
    assert sql.count("%s") == 1 and len(params) == 1
    assert list(Invoice.objects.filter(pk__any=ids).values_list("pk", flat=True)) == [invoice.pk]
    assert Invoice.objects.filter(pk__any=[]).query.sql_with_params()[1] == ("{}",)

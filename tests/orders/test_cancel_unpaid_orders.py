"""The automation step cancel_unpaid_orders: a pending order whose invoice is still unpaid the settings' days
after it was placed is cancelled through order_cancel, once, with everything that cascades from it."""

import datetime
import threading
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from automation.models import AutomationSettings
from automation.scheduler import automation_run
from billing.cycles import BillingCycle
from billing.models import Client, Invoice
from billing.services import credit_add, credit_apply, invoice_send_to_collections
from notifications.models import ActivityLog, Event
from orders import automation
from orders.models import Order
from orders.services import CartItem, order_accept, order_cancel, order_mark_fraud, order_set_pending
from tests.factories import ClientFactory, TransactionFactory

pytestmark = pytest.mark.django_db

TODAY = datetime.date(2026, 12, 1)
PLACED = datetime.date(2026, 11, 17)  # 14 days before TODAY: the default number of days
D = Decimal


def _place_on(order, day, *, at=datetime.time(12)):
    """Say when the order was placed: `at` on `day`, in the portal's time zone."""
    created_at = timezone.make_aware(datetime.datetime.combine(day, at), timezone.get_default_timezone())
    Order.objects.filter(pk=order.pk).update(created_at=created_at)


def _settings(**changes):
    AutomationSettings.objects.filter(pk=AutomationSettings.load().pk).update(**changes)


@pytest.fixture
def enabled(db):
    _settings(cancel_unpaid_orders_enabled=True)


@pytest.fixture
def order_placed(customer, hosting, place):
    """Place a one-item order (hosting, monthly) on `day`."""

    def _order_placed(day=PLACED, client=None, **kwargs):
        domain = f"shop{Order.objects.count()}.example.com"
        order = place(
            client or customer, CartItem(product_id=hosting.pk, billing_cycle=BillingCycle.MONTHLY, domain=domain)
        )
        _place_on(order, day, **kwargs)
        return order

    return _order_placed


def _run(today=TODAY, *, dry_run=False, errors=0):
    outcome = automation_run(today=today, dry_run=dry_run, only=["cancel_unpaid_orders"], trigger="test")
    step = outcome.steps[0]
    assert step.error_count == errors, step.errors
    return step


def _statuses(order):
    order.refresh_from_db()
    invoice = Invoice.objects.filter(pk=order.invoice_id).first()
    return (
        order.status,
        sorted(order.services.values_list("status", flat=True)),
        sorted(order.domains.values_list("status", flat=True)),
        invoice.status if invoice else None,
    )


def test_the_step_is_off_by_default(pending_order):
    _place_on(pending_order, TODAY - datetime.timedelta(days=90))
    step = _run()
    assert (step.counts, step.plan) == ({}, [])
    assert _statuses(pending_order) == ("pending", ["pending"], ["pending"], "unpaid")


def test_an_unpaid_order_is_cancelled_on_the_day_its_days_are_up_and_not_the_day_before(enabled, order_placed):
    order = order_placed(PLACED, at=datetime.time(23, 59))
    assert _run(TODAY - datetime.timedelta(days=1)).counts == {}
    assert _statuses(order)[0] == "pending"
    assert _run(TODAY).counts == {"orders cancelled": 1}
    assert _statuses(order) == ("cancelled", ["cancelled"], [], "cancelled")


def test_the_number_of_days_comes_from_the_settings(enabled, order_placed):
    _settings(cancel_unpaid_orders_after_days=3)
    order = order_placed(TODAY - datetime.timedelta(days=3))
    recent = order_placed(TODAY - datetime.timedelta(days=2))
    assert _run().counts == {"orders cancelled": 1}
    assert (_statuses(order)[0], _statuses(recent)[0]) == ("cancelled", "pending")


def test_the_day_an_order_was_placed_is_the_day_in_the_portals_time_zone(enabled, order_placed, settings):
    settings.TIME_ZONE = "America/New_York"
    # 03:00 UTC on the 18th is still the evening of the 17th in New York; 05:00 UTC is the 18th there.
    late_on_the_17th = order_placed(PLACED)
    first_thing_on_the_18th = order_placed(PLACED)
    Order.objects.filter(pk=late_on_the_17th.pk).update(
        created_at=datetime.datetime(2026, 11, 18, 3, tzinfo=datetime.UTC)
    )
    Order.objects.filter(pk=first_thing_on_the_18th.pk).update(
        created_at=datetime.datetime(2026, 11, 18, 5, tzinfo=datetime.UTC)
    )

    step = _run()

    assert step.counts == {"orders cancelled": 1}
    assert (_statuses(late_on_the_17th)[0], _statuses(first_thing_on_the_18th)[0]) == ("cancelled", "pending")
    assert f"Order #{late_on_the_17th.pk} (client #{late_on_the_17th.client_id}) placed 2026-11-17" in step.plan[0]


def test_cancelling_cascades_to_the_items_and_the_invoice_as_the_system(enabled, pending_order):
    _place_on(pending_order, PLACED)
    invoice = pending_order.invoice

    step = _run()

    assert step.counts == {"orders cancelled": 1}
    assert _statuses(pending_order) == ("cancelled", ["cancelled"], ["cancelled"], "cancelled")
    assert step.plan == [
        f"Order #{pending_order.pk} (client #{pending_order.client_id}) placed 2026-11-17: cancelled, "
        f"invoice {invoice.number} unpaid"
    ]
    change = pending_order.history.last()
    assert (change.from_status, change.to_status, change.actor, change.actor_label, change.reason) == (
        "pending",
        "cancelled",
        None,
        "system",
        "unpaid after 14 days (automation)",
    )
    entry = ActivityLog.objects.get(action="order_cancelled", subject_id=pending_order.pk)
    assert entry.actor_label == "system" and "unpaid after 14 days (automation)" in entry.message
    for name, key, pk in [
        ("CancelOrder", "order_id", pending_order.pk),
        ("InvoiceCancelled", "invoice_id", invoice.pk),
        ("ServiceCancelled", "service_id", pending_order.services.get().pk),
        ("DomainCancelled", "domain_id", pending_order.domains.get().pk),
    ]:
        assert Event.objects.filter(name=name, **{f"payload__{key}": pk}).count() == 1, name


def test_the_reason_counts_the_days_since_the_order_was_placed(enabled, order_placed):
    order = order_placed(TODAY - datetime.timedelta(days=40))
    _run()
    assert order.history.last().reason == "unpaid after 40 days (automation)"


def test_the_days_start_again_when_an_admin_sets_the_order_back_to_pending(enabled, order_placed):
    order = order_placed(PLACED)
    order_mark_fraud(order=order, actor=None, reason="screened at checkout")
    order_set_pending(order=order, actor=None, reason="the client called: not fraud")
    reopened_on = PLACED + datetime.timedelta(days=8)
    reopened_at = timezone.make_aware(datetime.datetime.combine(reopened_on, datetime.time(9)))
    order.history.filter(to_status="pending").exclude(from_status="").update(created_at=reopened_at)
    assert _statuses(order) == ("pending", ["pending"], [], "unpaid")

    assert _run(TODAY).counts == {}
    assert _run(reopened_on + datetime.timedelta(days=13)).counts == {}
    step = _run(reopened_on + datetime.timedelta(days=14))

    assert step.counts == {"orders cancelled": 1}
    assert step.plan[0].startswith(f"Order #{order.pk} (client #{order.client_id}) placed 2026-11-17: cancelled")
    assert order.history.get(to_status="cancelled").reason == "unpaid after 14 days (automation)"


def test_credit_applied_to_the_invoice_goes_back_to_the_client(enabled, order_placed, customer):
    order = order_placed(PLACED)
    credit_add(client_id=customer.pk, amount=D("3.00"), reason="goodwill", actor=None)
    credit_apply(invoice_id=order.invoice_id, amount=D("3.00"), actor=None)
    assert Client.objects.get(pk=customer.pk).credit_balance == 0

    assert _run().counts == {"orders cancelled": 1}

    assert _statuses(order)[3] == "cancelled"
    assert Client.objects.get(pk=customer.pk).credit_balance == D("3.00")


def _accept(order):
    order_accept(order=order, actor=None)


def _pay(order):
    TransactionFactory(invoice=order.invoice)


def _pay_part(order):
    TransactionFactory(invoice=order.invoice, amount="1.00")


def _mark_fraud(order):
    order_mark_fraud(order=order, actor=None)


def _cancel(order):
    order_cancel(order=order, actor=None)


def _return_invoice_to_draft(order):
    invoice = order.invoice
    invoice.return_to_draft()
    invoice.save()


def _send_to_collections(order):
    invoice_send_to_collections(invoice_id=order.invoice_id, actor=None)


def _without_invoice(order):
    Order.objects.filter(pk=order.pk).update(invoice=None)


@pytest.mark.parametrize(
    "change",
    [
        _accept,  # Active: an admin accepted it, unpaid or not
        _pay,  # the invoice is Paid
        _pay_part,  # partly paid: the client is paying, an admin decides
        _mark_fraud,
        _cancel,  # already Cancelled
        _return_invoice_to_draft,  # an admin is editing the invoice
        _send_to_collections,  # an admin sent it to collections
        _without_invoice,
    ],
)
def test_orders_that_are_not_pending_with_an_unpaid_invoice_are_left_alone(
    change, enabled, pending_order, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        change(pending_order)
    _place_on(pending_order, TODAY - datetime.timedelta(days=90))
    before = _statuses(pending_order)
    history = pending_order.history.count()

    assert _run().counts == {}

    assert _statuses(pending_order) == before
    assert pending_order.history.count() == history


def test_a_partly_paid_order_stays_pending_with_its_payment(enabled, order_placed, django_capture_on_commit_callbacks):
    order = order_placed(PLACED)
    with django_capture_on_commit_callbacks(execute=True):
        _pay_part(order)
    assert _run(TODAY + datetime.timedelta(days=60)).counts == {}
    invoice = Invoice.objects.get(pk=order.invoice_id)
    assert (_statuses(order)[0], invoice.status, invoice.amount_paid) == ("pending", "unpaid", D("1.00"))


def test_a_second_run_cancels_nothing_more(enabled, order_placed):
    order = order_placed(PLACED)
    assert _run().counts == {"orders cancelled": 1}
    again = _run()
    later = _run(TODAY + datetime.timedelta(days=30))
    assert (again.counts, again.plan, later.counts) == ({}, [], {})
    assert list(order.history.values_list("to_status", flat=True)) == ["pending", "cancelled"]
    assert Event.objects.filter(name="CancelOrder", payload__order_id=order.pk).count() == 1


def test_a_dry_run_lists_the_order_and_writes_nothing(enabled, pending_order):
    _place_on(pending_order, PLACED)
    events = Event.objects.count()

    step = _run(dry_run=True)

    assert step.counts == {"orders cancelled": 1}
    assert step.plan == [
        f"Order #{pending_order.pk} (client #{pending_order.client_id}) placed 2026-11-17: cancelled, "
        f"invoice {pending_order.invoice.number} unpaid"
    ]
    assert _statuses(pending_order) == ("pending", ["pending"], ["pending"], "unpaid")
    assert list(pending_order.history.values_list("to_status", flat=True)) == ["pending"]
    assert Event.objects.count() == events
    assert _run().counts == {"orders cancelled": 1}  # and the real run still does it


def test_an_order_that_cannot_be_cancelled_is_reported_and_the_others_go_on(enabled, order_placed, monkeypatch):
    broken, fine = order_placed(PLACED), order_placed(PLACED)
    real_cancel = automation.order_cancel

    def cancel(*, order, **kwargs):
        if order.pk == broken.pk:
            raise RuntimeError("the module queue is down")
        return real_cancel(order=order, **kwargs)

    monkeypatch.setattr(automation, "order_cancel", cancel)

    step = _run(errors=1)

    assert step.counts == {"orders cancelled": 1}
    assert step.errors == [f"Order #{broken.pk}: not cancelled: RuntimeError: the module queue is down"]
    assert (_statuses(broken)[0], _statuses(fine)[0]) == ("pending", "cancelled")


def _queries(order_placed, *, due, recent=0):
    """Queries of one run that finds `due` orders to cancel among `recent` others not due yet."""
    for _ in range(due):
        order_placed(PLACED, client=ClientFactory(currency_id=Client.objects.first().currency_id))
    for _ in range(recent):
        order_placed(TODAY, client=ClientFactory(currency_id=Client.objects.first().currency_id))
    with CaptureQueriesContext(connection) as queries:
        step = _run()
    assert step.counts.get("orders cancelled", 0) == due
    return len(queries)


def test_the_selection_is_one_query_and_each_cancellation_costs_the_same(enabled, order_placed, customer, monkeypatch):
    _queries(order_placed, due=1)  # the first run creates the settings row
    nothing_due = _queries(order_placed, due=0)
    # Orders not due yet cost nothing: one query selects the due ones, whatever else there is.
    assert _queries(order_placed, due=0, recent=6) == nothing_due
    two, four, six = (_queries(order_placed, due=n) for n in (2, 4, 6))
    per_order = (four - two) // 2
    # A cancellation is per order (order_cancel's cascade), a fixed number of queries each (docs/AUTOMATION.md).
    assert 0 < per_order <= 30, per_order
    assert six - two == 4 * per_order
    per_batch = two - nothing_due - 2 * per_order  # its savepoint and its lock
    assert 0 < per_batch <= 3, per_batch
    monkeypatch.setattr(automation, "BATCH_SIZE", 2)
    assert _queries(order_placed, due=6) == six + 2 * per_batch  # three batches instead of one


# --- on PostgreSQL: rows held by someone else are skipped -------------------------------------------------------


def _hold(lock, locked, release):
    def hold():
        try:
            with transaction.atomic():
                lock()
                locked.set()
                release.wait(10)
        finally:
            connection.close()

    return threading.Thread(target=hold)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("held", ["order", "invoice"])
def test_an_order_or_invoice_locked_by_another_run_or_a_payment_is_skipped_until_the_next_run(held, order_placed):
    _settings(cancel_unpaid_orders_enabled=True)
    busy, free = order_placed(PLACED), order_placed(PLACED)
    model, pk = (Order, busy.pk) if held == "order" else (Invoice, busy.invoice_id)
    locked, release = threading.Event(), threading.Event()
    holder = _hold(lambda: list(model.objects.select_for_update().filter(pk=pk)), locked, release)
    holder.start()
    try:
        assert locked.wait(10)
        step = _run()
    finally:
        release.set()
        holder.join(20)

    assert step.counts == {"orders cancelled": 1}
    assert (_statuses(busy)[0], _statuses(free)[0]) == ("pending", "cancelled")
    assert _run().counts == {"orders cancelled": 1}
    assert _statuses(busy)[0] == "cancelled"

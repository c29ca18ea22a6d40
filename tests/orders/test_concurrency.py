"""Two admins acting on one order at the same moment: the row lock lets only one of them succeed."""

import threading
import time

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction

from orders.models import Order
from orders.services import order_accept, order_mark_fraud

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _in_thread(target, results, key):
    def run():
        try:
            target()
            results[key] = "ok"
        except ValidationError as exc:
            results[key] = exc.messages[0]
        finally:
            connection.close()

    return threading.Thread(target=run)


def test_a_second_admin_waits_for_the_first_and_is_then_refused(pending_order, admin_user):
    locked, release = threading.Event(), threading.Event()
    results, waited = {}, {}

    def first():
        with transaction.atomic():
            order_accept(order=Order.objects.get(pk=pending_order.pk), actor=admin_user)
            locked.set()
            release.wait(10)  # keep the transaction (and its row lock) open while the second admin acts

    def second():
        locked.wait(10)
        started = time.monotonic()
        try:
            order_mark_fraud(order=Order.objects.get(pk=pending_order.pk), actor=admin_user)
        finally:
            waited["seconds"] = time.monotonic() - started

    threads = [_in_thread(first, results, "first"), _in_thread(second, results, "second")]
    for thread in threads:
        thread.start()
    locked.wait(10)
    time.sleep(0.5)
    release.set()
    for thread in threads:
        thread.join(20)

    assert results["first"] == "ok"
    assert "cannot be marked as fraud" in results["second"]
    assert waited["seconds"] >= 0.4  # it really waited on the lock instead of reading a stale Pending
    pending_order.refresh_from_db()
    assert pending_order.status == Order.Status.ACTIVE
    assert list(pending_order.history.values_list("to_status", flat=True)) == ["pending", "active"]
    assert pending_order.services.get().status == "active"


def test_two_admins_accepting_at_once_accept_once(pending_order, admin_user):
    barrier = threading.Barrier(2)
    results = {}

    def accept():
        barrier.wait(10)
        order_accept(order=Order.objects.get(pk=pending_order.pk), actor=admin_user)

    threads = [_in_thread(accept, results, n) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)

    assert sorted(results.values(), key=len) == ["ok", f"{pending_order} is Active and cannot be accepted."]
    assert list(pending_order.history.values_list("to_status", flat=True)) == ["pending", "active"]


def test_two_clients_ordering_the_same_domain_at_once_get_one_order(customer, domain_product, usd):
    from billing.cycles import BillingCycle
    from orders.services import CartItem, order_place
    from provisioning.models import Domain
    from tests.factories import ClientFactory

    other = ClientFactory(currency=usd)
    placed, release = threading.Event(), threading.Event()
    results = {}

    def checkout(client):
        order_place(
            client=client,
            actor=None,
            items=[CartItem(product_id=domain_product.pk, billing_cycle=BillingCycle.ANNUALLY, domain="race.com")],
        )

    def first():
        with transaction.atomic():
            checkout(customer)
            placed.set()
            release.wait(10)  # still uncommitted: the second checkout's "already ordered?" check sees nothing

    def second():
        placed.wait(10)
        checkout(other)

    threads = [_in_thread(first, results, "first"), _in_thread(second, results, "second")]
    for thread in threads:
        thread.start()
    placed.wait(10)
    time.sleep(0.5)
    release.set()
    for thread in threads:
        thread.join(20)

    # Nothing but the one-live-domain-per-name constraint stands between the two.
    assert results == {"first": "ok", "second": "race.com is already ordered or registered here."}
    assert Domain.objects.filter(name="race.com").count() == 1
    assert Order.objects.count() == 1

"""Every allowed and every refused transition of each state machine, from a table written out by hand.

The tables are the specification (ARCHITECTURE.md, with the decisions in docs/DECISIONS.md); a transition
added to a model without a row here fails `test_table_lists_every_transition`.
"""

import datetime

import pytest
from django.utils import timezone
from django_fsm import TransitionNotAllowed

from billing.models import Client, Invoice
from orders.models import Order
from provisioning.models import Domain, Service

TODAY = datetime.date(2026, 11, 21)

O, S, D, I, C = Order.Status, Service.Status, Domain.Status, Invoice.Status, Client.Status  # noqa: E741

TABLES = {
    Order: {
        "accept": ([O.PENDING], O.ACTIVE, {}),
        "cancel": ([O.PENDING, O.ACTIVE], O.CANCELLED, {}),
        "mark_fraud": ([O.PENDING], O.FRAUD, {}),
        "set_pending": ([O.FRAUD, O.CANCELLED], O.PENDING, {}),
    },
    Service: {
        "activate": ([S.PENDING], S.ACTIVE, {}),
        "suspend": ([S.ACTIVE], S.SUSPENDED, {"reason": Service.SuspensionReason.OVERDUE}),
        "unsuspend": ([S.SUSPENDED], S.ACTIVE, {}),
        "terminate": ([S.ACTIVE, S.SUSPENDED], S.TERMINATED, {"on": TODAY}),
        "cancel": ([S.PENDING], S.CANCELLED, {}),
        "mark_fraud": ([S.PENDING], S.FRAUD, {}),
        "set_pending": ([S.CANCELLED, S.FRAUD, S.TERMINATED], S.PENDING, {}),
    },
    Domain: {
        "request_registration": ([D.PENDING], D.PENDING_REGISTRATION, {}),
        "request_transfer": ([D.PENDING], D.PENDING_TRANSFER, {}),
        "activate": ([D.PENDING, D.PENDING_REGISTRATION, D.PENDING_TRANSFER], D.ACTIVE, {"expiry_date": TODAY}),
        "expire": ([D.ACTIVE], D.EXPIRED, {}),
        "renew": ([D.EXPIRED], D.ACTIVE, {"expiry_date": TODAY}),
        "mark_transferred_away": ([D.ACTIVE, D.EXPIRED], D.TRANSFERRED_AWAY, {}),
        "registry_lost": ([D.ACTIVE, D.EXPIRED], D.CANCELLED, {}),
        "transfer_failed": ([D.PENDING_TRANSFER], D.PENDING, {}),
        "cancel": ([D.PENDING, D.PENDING_REGISTRATION, D.PENDING_TRANSFER, D.ACTIVE], D.CANCELLED, {}),
        "mark_fraud": ([D.PENDING, D.PENDING_REGISTRATION, D.PENDING_TRANSFER], D.FRAUD, {}),
        "set_pending": ([D.CANCELLED, D.FRAUD], D.PENDING, {}),
    },
    Invoice: {
        "publish": ([I.DRAFT], I.UNPAID, {}),
        "return_to_draft": ([I.UNPAID], I.DRAFT, {}),
        "mark_paid": ([I.UNPAID, I.COLLECTIONS], I.PAID, {"at": timezone.now()}),
        "cancel": ([I.DRAFT, I.UNPAID], I.CANCELLED, {}),
        "reopen": ([I.CANCELLED], I.UNPAID, {}),
        "send_to_collections": ([I.UNPAID], I.COLLECTIONS, {}),
        "refund": ([I.PAID], I.REFUNDED, {}),
    },
    Client: {
        "deactivate": ([C.ACTIVE], C.INACTIVE, {}),
        "activate": ([C.INACTIVE, C.CLOSED], C.ACTIVE, {}),
        "close": ([C.ACTIVE, C.INACTIVE], C.CLOSED, {}),
    },
}

CASES = [
    pytest.param(model, name, status, status in sources, target, kwargs, id=f"{model.__name__}.{name}-from-{status}")
    for model, table in TABLES.items()
    for name, (sources, target, kwargs) in table.items()
    for status in model.Status.values
]


@pytest.mark.parametrize(("model", "name", "status", "allowed", "target", "kwargs"), CASES)
def test_transition(model, name, status, allowed, target, kwargs):
    instance = model(status=status)
    transition = getattr(instance, name)
    if allowed:
        transition(**kwargs)
        assert instance.status == target
    else:
        with pytest.raises(TransitionNotAllowed):
            transition(**kwargs)
        assert instance.status == status


@pytest.mark.parametrize("model", TABLES, ids=lambda m: m.__name__)
def test_table_lists_every_transition(model):
    declared = {t.name for t in model._meta.get_field("status").get_all_transitions(model)}
    assert declared == set(TABLES[model])


@pytest.mark.parametrize("model", TABLES, ids=lambda m: m.__name__)
def test_status_cannot_be_assigned_by_hand(model):
    instance = model()
    with pytest.raises(AttributeError, match="modification is not allowed"):
        instance.status = model.Status.values[-1]


def test_an_invoice_already_sent_cannot_go_back_to_draft():
    invoice = Invoice(status=I.UNPAID, sent_at=timezone.now())
    with pytest.raises(TransitionNotAllowed):
        invoice.return_to_draft()
    assert invoice.status == I.UNPAID


def test_suspension_keeps_its_reason_and_unsuspend_clears_it():
    service = Service(status=S.ACTIVE)
    service.suspend(reason=Service.SuspensionReason.ABUSE)
    assert service.suspension_reason == "abuse"
    service.unsuspend()
    assert service.suspension_reason == ""

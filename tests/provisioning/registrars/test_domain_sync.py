"""The run's domain sync (issue 18, requirement 6): once a day per domain, each registrar that syncs is asked
what the registry holds, through the module queue; its answer is the domain's, every change is logged, transfers
are followed to completion or failure, and a domain the registrar no longer holds for us is not billed again."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from automation.scheduler import automation_run
from billing.models import InvoiceItem
from notifications.models import ActivityLog, Event
from provisioning.models import Domain, ModuleCall
from provisioning.registrars.base import DomainSync, RegistryStatus, TransferState, TransferSync
from tests import registrar_package
from tests.factories import DomainFactory

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()


@pytest.fixture(autouse=True)
def _fresh_registrar():
    registrar_package.reset()
    yield
    registrar_package.reset()


def _sync(capture, day=TODAY):
    with capture(execute=True):
        outcome = automation_run(today=day, only=["domain_sync"], trigger="test")
    assert outcome.ok, [step.errors for step in outcome.steps]
    return outcome


def _domain(customer, name, **fields) -> Domain:
    fields.setdefault("registrar", "scripted_registrar")
    return DomainFactory(client=customer, name=name, **fields)


def test_the_registrars_expiry_date_wins_and_the_change_is_logged(customer, django_capture_on_commit_callbacks):
    domain = _domain(customer, "moved.example", expiry_date=TODAY + datetime.timedelta(days=30))
    registry_date = TODAY + datetime.timedelta(days=400)
    registrar_package.SYNC_ANSWERS["moved.example"] = DomainSync(RegistryStatus.ACTIVE, registry_date)
    _sync(django_capture_on_commit_callbacks)
    domain.refresh_from_db()
    assert domain.expiry_date == registry_date
    entry = ActivityLog.objects.get(action="domain_expiry_confirmed", subject_id=domain.pk)
    assert "synced with the registrar" in entry.message and str(registry_date) in entry.message


def test_an_unchanged_domain_is_asked_and_nothing_is_logged(customer, django_capture_on_commit_callbacks):
    domain = _domain(customer, "same.example")
    _sync(django_capture_on_commit_callbacks)
    assert ModuleCall.objects.get(domain=domain).status == ModuleCall.Status.SUCCEEDED
    assert not ActivityLog.objects.filter(subject_id=domain.pk, subject_type="provisioning.domain").exists()


def test_each_domain_is_asked_once_a_day_however_often_the_run_runs(customer, django_capture_on_commit_callbacks):
    _domain(customer, "once.example")
    _sync(django_capture_on_commit_callbacks)
    _sync(django_capture_on_commit_callbacks)
    assert [action for action, _key in registrar_package.CALLS] == ["sync"]
    _sync(django_capture_on_commit_callbacks, day=TODAY + datetime.timedelta(days=1))
    assert [action for action, _key in registrar_package.CALLS] == ["sync", "sync"]


def test_a_domain_the_registry_no_longer_has_is_cancelled_and_not_billed_again(
    customer, django_capture_on_commit_callbacks
):
    expires = TODAY + datetime.timedelta(days=5)
    domain = _domain(
        customer, "gone.example", expiry_date=expires, registration_date=expires.replace(year=expires.year - 1)
    )
    registrar_package.SYNC_ANSWERS["gone.example"] = DomainSync(RegistryStatus.GONE)
    _sync(django_capture_on_commit_callbacks)
    domain.refresh_from_db()
    assert domain.status == Domain.Status.CANCELLED
    assert Event.objects.filter(name="DomainGone").count() == 1
    assert automation_run(today=TODAY, only=["renewal_invoicing"], trigger="test").ok
    assert not InvoiceItem.objects.filter(kind=InvoiceItem.Kind.DOMAIN, related_id=domain.pk).exists()


def test_a_domain_held_by_another_registrar_is_transferred_away(customer, django_capture_on_commit_callbacks):
    domain = _domain(customer, "away.example")
    registrar_package.SYNC_ANSWERS["away.example"] = DomainSync(RegistryStatus.TRANSFERRED_AWAY)
    _sync(django_capture_on_commit_callbacks)
    domain.refresh_from_db()
    assert domain.status == Domain.Status.TRANSFERRED_AWAY
    assert ActivityLog.objects.filter(action="domain_transferred_away", subject_id=domain.pk).exists()


def test_a_transfer_in_is_followed_until_it_completes_with_the_registrys_date(
    customer, django_capture_on_commit_callbacks
):
    domain = _domain(customer, "incoming.example", status=Domain.Status.PENDING_TRANSFER, expiry_date=None)
    _sync(django_capture_on_commit_callbacks)
    domain.refresh_from_db()
    assert domain.status == Domain.Status.PENDING_TRANSFER
    done = TODAY + datetime.timedelta(days=700)
    registrar_package.TRANSFER_ANSWERS["incoming.example"] = TransferSync(TransferState.COMPLETED, done)
    _sync(django_capture_on_commit_callbacks, day=TODAY + datetime.timedelta(days=1))
    domain.refresh_from_db()
    assert (domain.status, domain.expiry_date) == (Domain.Status.ACTIVE, done)
    assert [action for action, _key in registrar_package.CALLS] == ["transfer_sync", "transfer_sync"]


def test_a_refused_transfer_is_pending_again_with_the_registrys_reason(customer, django_capture_on_commit_callbacks):
    domain = _domain(customer, "refused.example", status=Domain.Status.PENDING_TRANSFER, expiry_date=None)
    registrar_package.TRANSFER_ANSWERS["refused.example"] = TransferSync(
        TransferState.FAILED, reason="The losing registrar rejected it"
    )
    _sync(django_capture_on_commit_callbacks)
    domain.refresh_from_db()
    assert domain.status == Domain.Status.PENDING
    event = Event.objects.get(name="DomainTransferFailed")
    assert event.payload["reason"] == "The losing registrar rejected it"


def test_manual_and_cancelled_domains_are_not_asked(customer, django_capture_on_commit_callbacks):
    _domain(customer, "by-hand.example", registrar="manual")
    _domain(customer, "over.example", status=Domain.Status.CANCELLED)
    _sync(django_capture_on_commit_callbacks)
    assert not ModuleCall.objects.exists()


def test_the_step_asks_in_a_bounded_number_of_queries_whatever_the_number_of_domains(customer):
    def queries(n: int, day: datetime.date) -> int:
        for k in range(n):
            _domain(customer, f"bulk{day.toordinal()}-{k}.example")
        with CaptureQueriesContext(connection) as captured:
            assert automation_run(today=day, only=["domain_sync"], trigger="test").ok
        return len(captured)

    queries(1, TODAY)  # warms the caches a first run fills (content types, settings)
    few = queries(3, TODAY + datetime.timedelta(days=1))
    many = queries(30, TODAY + datetime.timedelta(days=2))
    assert many == few, (few, many)

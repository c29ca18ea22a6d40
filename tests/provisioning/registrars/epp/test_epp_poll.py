"""The EPP registrar reads its account's poll queue (issue 18, requirement 2): the run's registrar_poll step sends a
task per configuration, which drains the queue of the TLS EPP test server. Each message is recorded once, in the
transaction that applies it, and acknowledged after that commits: a transfer in approved or refused, a domain
transferred away, and the messages about nothing of ours. A fault loses no message; the daily transfer query and
a poll that meet the same transfer apply it once."""

import contextlib
import datetime
import hashlib
import logging
import socket

import pytest
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.test.utils import CaptureQueriesContext, override_settings
from django.utils import timezone

from automation.scheduler import automation_run
from billing.models import InvoiceItem
from core import crypto
from notifications.models import ActivityLog, Event
from provisioning.models import Domain, ModuleCall, RegistrarPoll, RegistrarPollMessage
from provisioning.queue.common import RunResult
from provisioning.queue.registrar_poll import POLL_LOCK_NAMESPACE, PollResult, registrar_poll_run
from provisioning.queue.requests import registrar_polls_request
from provisioning.queue.runner import module_call_run
from provisioning.registrars.epp.registrar import close_sessions
from provisioning.services.domains import domain_activate, domain_cancel, domain_set_pending
from provisioning.services.tlds import registrar_config_save
from tests.epp_registry import QueuedMessage
from tests.factories import DomainFactory

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()
Outcome = RegistrarPollMessage.Outcome


@pytest.fixture(autouse=True)
def _sessions_closed():
    yield
    close_sessions()


@pytest.fixture
def configure(epp_registrar):
    """The EPP registrar's configuration as an admin saves it, for registrar-a (or `port`: where nothing listens)."""
    return epp_registrar


@pytest.fixture
def poll(django_capture_on_commit_callbacks):
    """Run the registrar_poll step as the daily run does, its tasks run after commit; the poll it made."""

    def _poll() -> RegistrarPoll:
        with django_capture_on_commit_callbacks(execute=True):
            outcome = automation_run(today=TODAY, only=["registrar_poll"], trigger="test")
        assert outcome.ok, [step.errors for step in outcome.steps]
        return RegistrarPoll.objects.latest("pk")

    return _poll


@pytest.fixture
def transfer_in(customer, django_capture_on_commit_callbacks, epp_server):
    """A domain at registrar-b at the registry, ordered here as a transfer in and sent: Pending Transfer."""

    def _transfer_in(name: str) -> Domain:
        epp_server.add_domain(name, sponsor="registrar-b", auth_info="their-code")
        domain = DomainFactory(
            client=customer,
            name=name,
            status=Domain.Status.PENDING,
            registration_type=Domain.RegistrationType.TRANSFER,
            expiry_date=None,
            registrar="epp",
            epp_code_token=crypto.encrypt("their-code"),
        )
        with django_capture_on_commit_callbacks(execute=True):
            domain_activate(domain=domain, send_to_registrar=True, actor=None)
        domain.refresh_from_db()
        assert domain.status == Domain.Status.PENDING_TRANSFER
        return domain

    return _transfer_in


def _queue_of(epp_server, clid="registrar-a") -> list:
    with epp_server.lock:
        return list(epp_server.registry.queues.get(clid, []))


def _other_registrar_asks_for(epp_server, connect, name: str) -> None:
    """registrar-b asks the registry for our domain (its own session, not the portal's)."""
    session = connect("registrar-b")
    session.connect()
    session.domain_transfer_request(name=name, auth_info=epp_server.registry.domains[name].auth_info)


def test_the_step_asks_a_poll_of_each_active_configuration_whose_registrar_reads_messages(
    configure, django_capture_on_commit_callbacks
):
    config = configure()
    registrar_config_save(config_id=None, name="scripted_registrar", settings={}, is_active=True, actor=None)
    dry = automation_run(today=TODAY, only=["registrar_poll"], trigger="test", dry_run=True)
    assert dry.ok and any("message queue of epp would be read" in line for step in dry.steps for line in step.plan)
    assert not RegistrarPoll.objects.exists()
    with django_capture_on_commit_callbacks(execute=False) as sent:
        assert automation_run(today=TODAY, only=["registrar_poll"], trigger="test").ok
    assert list(RegistrarPoll.objects.values_list("config__name", "status")) == [("epp", RegistrarPoll.Status.QUEUED)]
    tasks = [getattr(callback, "task_name", "") for callback in sent]
    assert tasks.count("provisioning.registrar_poll_run") == 1
    configure(config_id=config.pk, active=False)
    assert automation_run(today=TODAY, only=["registrar_poll"], trigger="test").ok
    assert RegistrarPoll.objects.count() == 1


def test_an_approved_transfer_in_makes_the_domain_active_until_the_registrys_date(
    configure, poll, transfer_in, epp_server
):
    configure()
    domain = transfer_in("move.test")
    held = epp_server.complete_transfer("move.test")
    done = poll()
    domain.refresh_from_db()
    assert (domain.status, domain.expiry_date) == (Domain.Status.ACTIVE, held.expires_at.date())
    assert (done.status, done.messages_read, done.messages_left) == (RegistrarPoll.Status.SUCCEEDED, 1, 0)
    message = RegistrarPollMessage.objects.get()
    assert (message.outcome, message.domain, message.transfer_status) == (Outcome.APPLIED, domain, "serverApproved")
    assert message.expiry_date == held.expires_at.date() and message.acked_at is not None
    assert _queue_of(epp_server) == []
    entry = ActivityLog.objects.get(action="domain_activated", subject_id=domain.pk)
    assert f"transferred in (registry message {message.message_id})" in entry.message
    assert Event.objects.filter(name="DomainActivated", payload__domain_id=domain.pk).count() == 1


@pytest.mark.parametrize("status", ["clientRejected", "clientCancelled", "serverCancelled"])
def test_a_refused_or_cancelled_transfer_in_fails_with_the_registrys_words(
    configure, poll, transfer_in, epp_server, status
):
    configure()
    domain = transfer_in("stay.test")
    epp_server.reject_transfer("stay.test", "The owner said no.", status=status)
    poll()
    domain.refresh_from_db()
    assert domain.status == Domain.Status.PENDING
    reason = f"The transfer was {status} at the registry: The owner said no."
    assert Event.objects.get(name="DomainTransferFailed").payload["reason"] == reason
    entry = ActivityLog.objects.get(action="domain_transfer_failed", subject_id=domain.pk)
    assert "(registry message" in entry.message and reason in entry.message
    assert RegistrarPollMessage.objects.get().outcome == Outcome.APPLIED
    assert _queue_of(epp_server) == []


def test_a_domain_transferred_away_is_marked_so_and_not_billed_again(configure, poll, customer, epp_server, connect):
    configure()
    expires = TODAY + datetime.timedelta(days=5)
    domain = DomainFactory(
        client=customer,
        name="away.test",
        registrar="epp",
        expiry_date=expires,
        registration_date=expires.replace(year=expires.year - 1),
        created_at=timezone.now() - datetime.timedelta(days=365),
    )
    epp_server.add_domain("away.test", sponsor="registrar-a")
    _other_registrar_asks_for(epp_server, connect, "away.test")
    epp_server.complete_transfer("away.test")
    done = poll()
    domain.refresh_from_db()
    assert domain.status == Domain.Status.TRANSFERRED_AWAY
    assert done.messages_read == 2  # "requested" (pending: still ours), then "completed"
    outcomes = list(RegistrarPollMessage.objects.order_by("pk").values_list("transfer_status", "outcome"))
    assert outcomes == [("pending", Outcome.NOTHING_TO_DO), ("serverApproved", Outcome.APPLIED)]
    assert ActivityLog.objects.filter(action="domain_transferred_away", subject_id=domain.pk).count() == 1
    assert Event.objects.filter(name="DomainTransferredAway").count() == 1
    assert automation_run(today=TODAY, only=["renewal_invoicing"], trigger="test").ok
    assert not InvoiceItem.objects.filter(kind=InvoiceItem.Kind.DOMAIN, related_id=domain.pk).exists()


def test_a_transfer_away_that_was_refused_leaves_the_domain_ours(configure, poll, customer, epp_server, connect):
    configure()
    domain = DomainFactory(client=customer, name="kept.test", registrar="epp")
    epp_server.add_domain("kept.test", sponsor="registrar-a")
    _other_registrar_asks_for(epp_server, connect, "kept.test")
    epp_server.reject_transfer("kept.test", "Locked by the owner.")
    poll()
    domain.refresh_from_db()
    assert domain.status == Domain.Status.ACTIVE
    assert set(RegistrarPollMessage.objects.values_list("outcome", flat=True)) == {Outcome.NOTHING_TO_DO}
    assert not ActivityLog.objects.filter(subject_id=domain.pk, subject_type="provisioning.domain").exists()


def test_a_message_about_a_domain_we_do_not_have_or_no_transfer_is_recorded_acked_and_logged(
    configure, poll, epp_server, connect, caplog
):
    configure()
    epp_server.queue_message("registrar-a", "Scheduled maintenance on Sunday.")
    epp_server.add_domain("stranger.test", sponsor="registrar-b", auth_info="code-9")
    session = connect("registrar-a")  # a transfer asked outside the portal: no domain here is stranger.test
    session.connect()
    session.domain_transfer_request(name="stranger.test", auth_info="code-9")
    epp_server.complete_transfer("stranger.test")
    with caplog.at_level(logging.INFO, logger="provisioning.queue"):
        poll()
    outcomes = dict(RegistrarPollMessage.objects.values_list("text", "outcome"))
    assert outcomes == {
        "Scheduled maintenance on Sunday.": Outcome.NOT_A_TRANSFER,
        "Transfer completed.": Outcome.UNKNOWN_DOMAIN,
    }
    assert not RegistrarPollMessage.objects.filter(acked_at__isnull=True).exists()
    assert _queue_of(epp_server) == []
    assert "stranger.test serverApproved" in caplog.text and "Scheduled maintenance" not in caplog.text
    assert not ActivityLog.objects.filter(subject_type="provisioning.domain").exists()


def test_a_completed_transfer_message_without_its_expiry_date_takes_the_date_from_a_domain_info(
    configure, poll, transfer_in, epp_server
):
    configure()
    domain = transfer_in("undated.test")  # its session to the registry is open and logged in
    held = epp_server.complete_transfer("undated.test")
    stamp = held.transferred_at.strftime("%Y-%m-%dT%H:%M:%S.0Z")
    epp_server.send_instead(
        f"""<?xml version="1.0" encoding="UTF-8"?>
<epp xmlns="urn:ietf:params:xml:ns:epp-1.0"><response>
<result code="1301"><msg>Command completed successfully; ack to dequeue</msg></result>
<msgQ count="2" id="900"><qDate>{stamp}</qDate><msg>Transfer completed.</msg></msgQ>
<resData><domain:trnData xmlns:domain="urn:ietf:params:xml:ns:domain-1.0">
<domain:name>undated.test</domain:name><domain:trStatus>serverApproved</domain:trStatus>
<domain:reID>registrar-a</domain:reID><domain:reDate>{stamp}</domain:reDate>
<domain:acID>registrar-b</domain:acID><domain:acDate>{stamp}</domain:acDate>
</domain:trnData></resData><trID><svTRID>SV-900</svTRID></trID></response></epp>""".encode()
    )
    poll()
    domain.refresh_from_db()
    assert (domain.status, domain.expiry_date) == (Domain.Status.ACTIVE, held.expires_at.date())
    assert epp_server.count("domain:info") >= 1
    undated = RegistrarPollMessage.objects.get(message_id="900")  # the registry had no such message to ack: done
    assert (undated.outcome, undated.expiry_date) == (Outcome.APPLIED, held.expires_at.date())
    assert undated.acked_at is not None
    # The registry's own message about the same transfer came next: the domain had moved already.
    assert RegistrarPollMessage.objects.exclude(message_id="900").get().outcome == Outcome.NOTHING_TO_DO


def test_a_message_recorded_but_not_acknowledged_is_only_acknowledged_the_next_time(
    configure, poll, transfer_in, epp_server, admin_client
):
    configure()
    domain = transfer_in("twice.test")
    epp_server.complete_transfer("twice.test")
    epp_server.fail_command("poll:ack")  # the acknowledgement after the commit does not happen
    first = poll()
    assert first.status == RegistrarPoll.Status.FAILED and "2400" in first.error
    recorded = RegistrarPollMessage.objects.get()
    assert recorded.outcome == Outcome.APPLIED and recorded.acked_at is None
    assert [m.message_id for m in _queue_of(epp_server)] == [recorded.message_id]  # still at the registry

    second = poll()
    assert (second.status, second.messages_read) == (RegistrarPoll.Status.SUCCEEDED, 1)
    assert _queue_of(epp_server) == []
    recorded.refresh_from_db()
    assert recorded.acked_at is not None and RegistrarPollMessage.objects.count() == 1
    read_by_first = admin_client.get(f"/admin/provisioning/registrarpollmessage/?poll__id__exact={first.pk}")
    assert read_by_first.status_code == 200 and "twice.test" in read_by_first.content.decode()
    page = admin_client.get(f"/admin/provisioning/registrarpollmessage/{recorded.pk}/change/").content.decode()
    assert f"/admin/provisioning/domain/{domain.pk}/change/" in page
    domain.refresh_from_db()
    assert domain.status == Domain.Status.ACTIVE
    assert ActivityLog.objects.filter(action="domain_activated", subject_id=domain.pk).count() == 1
    assert Event.objects.filter(name="DomainActivated", payload__domain_id=domain.pk).count() == 1


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_registry_that_is_down_fails_the_poll_for_the_admin_and_loses_no_message(
    configure, poll, transfer_in, epp_server, caplog, admin_client
):
    config = configure()
    domain = transfer_in("later.test")
    epp_server.complete_transfer("later.test")
    configure(port=_closed_port(), config_id=config.pk)
    with caplog.at_level(logging.WARNING, logger="provisioning.queue"):
        failed = poll()
    assert failed.status == RegistrarPoll.Status.FAILED and "could not be reached" in failed.error
    assert f"Registrar poll {failed.pk} of epp failed" in caplog.text
    assert not RegistrarPollMessage.objects.exists() and len(_queue_of(epp_server)) == 1
    page = admin_client.get("/admin/provisioning/registrarpoll/?status=failed")
    assert page.status_code == 200 and "could not be reached" in page.content.decode()
    configs = admin_client.get("/admin/provisioning/registrarconfig/").content.decode()
    assert f'registrarpoll/?config__id__exact={config.pk}">Failed</a>' in configs
    detail = admin_client.get(f"/admin/provisioning/registrarpoll/{failed.pk}/change/")
    assert detail.status_code == 200 and "could not be reached" in detail.content.decode()

    configure(config_id=config.pk)  # the registry is back
    assert poll().status == RegistrarPoll.Status.SUCCEEDED
    domain.refresh_from_db()
    assert domain.status == Domain.Status.ACTIVE and _queue_of(epp_server) == []


def test_a_frame_that_does_not_parse_fails_the_poll_and_the_next_one_reads_the_message(
    configure, poll, transfer_in, epp_server
):
    configure()
    domain = transfer_in("garbled.test")
    epp_server.complete_transfer("garbled.test")
    epp_server.send_instead(b"<epp><not-closed>", framed=True)
    # The session logs in again once for a query that met a broken answer: that answer is garbled too.
    epp_server.send_instead(b"<epp><not-closed>", framed=True)
    failed = poll()
    assert failed.status == RegistrarPoll.Status.FAILED and "does not parse" in failed.error
    assert not RegistrarPollMessage.objects.exists() and len(_queue_of(epp_server)) == 1
    assert poll().status == RegistrarPoll.Status.SUCCEEDED
    domain.refresh_from_db()
    assert domain.status == Domain.Status.ACTIVE


def test_the_transfer_query_and_the_poll_apply_a_completed_transfer_once_in_either_order(
    configure, poll, transfer_in, epp_server, django_capture_on_commit_callbacks
):
    configure()
    first, second = transfer_in("query-first.test"), transfer_in("poll-first.test")
    epp_server.complete_transfer("query-first.test")
    epp_server.complete_transfer("poll-first.test")
    with django_capture_on_commit_callbacks(execute=False):  # the day's transfer queries asked, not run yet
        assert automation_run(today=TODAY, only=["domain_sync"], trigger="test").ok
    query = {call.domain_id: call.pk for call in ModuleCall.objects.filter(action="transfer_sync")}
    assert module_call_run(query[first.pk]).result is RunResult.SUCCEEDED  # the query before the poll
    poll()
    assert module_call_run(query[second.pk]).result is RunResult.SUCCEEDED  # the query after it
    for domain in (first, second):
        domain.refresh_from_db()
        held = epp_server.registry.domains[domain.name]
        assert (domain.status, domain.expiry_date) == (Domain.Status.ACTIVE, held.expires_at.date())
        assert ActivityLog.objects.filter(action="domain_activated", subject_id=domain.pk).count() == 1
        assert not ActivityLog.objects.filter(action="domain_expiry_confirmed", subject_id=domain.pk).exists()
        assert Event.objects.filter(name="DomainActivated", payload__domain_id=domain.pk).count() == 1
    outcomes = dict(RegistrarPollMessage.objects.values_list("domain_name", "outcome"))
    assert outcomes == {"query-first.test": Outcome.NOTHING_TO_DO, "poll-first.test": Outcome.APPLIED}


def test_a_refusal_of_an_earlier_transfer_round_does_not_fail_the_one_sent_since(
    configure, poll, transfer_in, epp_server, django_capture_on_commit_callbacks
):
    configure()
    domain = transfer_in("again.test")
    epp_server.frozen_now = timezone.now().replace(microsecond=0) - datetime.timedelta(hours=2)
    epp_server.reject_transfer("again.test", "Wrong contact.")
    epp_server.frozen_now = None
    with django_capture_on_commit_callbacks(execute=True):  # the transfer query saw it first (no poll that day)
        assert automation_run(today=TODAY, only=["domain_sync"], trigger="test").ok
    domain.refresh_from_db()
    assert domain.status == Domain.Status.PENDING
    with django_capture_on_commit_callbacks(execute=True):  # the admin cancels it, sets it back and sends it again
        domain_cancel(domain=domain, as_fraud=False, actor=None)
        domain_set_pending(domain=domain, actor=None)
        domain_activate(domain=domain, send_to_registrar=True, actor=None)
    domain.refresh_from_db()
    assert domain.status == Domain.Status.PENDING_TRANSFER
    poll()
    domain.refresh_from_db()
    assert domain.status == Domain.Status.PENDING_TRANSFER
    assert RegistrarPollMessage.objects.get().outcome == Outcome.STALE


@override_settings(PORTAL_REGISTRAR_POLL_LIMIT=3)
def test_a_poll_reads_at_most_its_bound_and_the_next_one_the_rest(configure, poll, epp_server):
    configure()
    for n in range(5):
        epp_server.queue_message("registrar-a", f"Notice {n}.")
    first = poll()
    assert (first.messages_read, first.messages_left) == (3, 2)
    second = poll()
    assert (second.messages_read, second.messages_left) == (2, 0)
    assert RegistrarPollMessage.objects.count() == 5 and _queue_of(epp_server) == []


def test_a_poll_costs_the_same_queries_for_each_message(configure, transfer_in, epp_server):
    configure()

    def queries(n: int, tag: str) -> int:
        for k in range(n):
            transfer_in(f"bulk-{tag}-{k}.test")
            epp_server.complete_transfer(f"bulk-{tag}-{k}.test")
        (poll_id,) = registrar_polls_request()
        with CaptureQueriesContext(connection) as captured:
            assert registrar_poll_run(poll_id).read == n
        return len(captured)

    queries(1, "warm")  # the caches a first run fills (content types)
    two, six = queries(2, "few"), queries(6, "many")
    per_message, rest = divmod(six - two, 4)
    # Each message is its own transaction (it commits before it is acknowledged): a fixed number of queries each
    # (lock the domain, find its transfer round, record, apply, log, event, mark acknowledged), none that grows.
    assert rest == 0 and per_message <= 12, (two, six)
    assert two - 2 * per_message <= 14, (two, per_message)  # the poll's own rows and the settings, once


@contextlib.contextmanager
def _held_elsewhere(config_id: int):
    """Another database session holds the configuration's poll lock, as a poll running in another worker does."""
    other = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s, %s)", [POLL_LOCK_NAMESPACE, config_id])
        yield
    finally:
        other.close()


@pytest.mark.postgres  # another session's advisory lock: PostgreSQL's
def test_a_second_poll_of_the_same_registrar_while_one_runs_is_skipped_and_reads_nothing(configure, epp_server):
    config = configure()
    epp_server.queue_message("registrar-a", "Notice.")
    first, second = RegistrarPoll.objects.bulk_create([RegistrarPoll(config=config), RegistrarPoll(config=config)])
    with _held_elsewhere(config.pk):
        assert registrar_poll_run(second.pk).result is PollResult.SKIPPED
    assert epp_server.count("poll:req") == 0
    assert registrar_poll_run(first.pk).result is PollResult.SUCCEEDED
    statuses = dict(RegistrarPoll.objects.values_list("pk", "status"))
    assert statuses == {first.pk: RegistrarPoll.Status.SUCCEEDED, second.pk: RegistrarPoll.Status.SKIPPED}


def test_a_poll_left_queued_or_running_is_closed_by_the_next_one(configure):
    config = configure()
    lost, current = RegistrarPoll.objects.bulk_create([RegistrarPoll(config=config), RegistrarPoll(config=config)])
    assert registrar_poll_run(current.pk).result is PollResult.SUCCEEDED
    lost.refresh_from_db()
    assert lost.status == RegistrarPoll.Status.FAILED and f"poll #{current.pk} read the queue" in lost.error
    assert registrar_poll_run(lost.pk).result is PollResult.FINISHED_BEFORE


def test_a_message_id_longer_than_the_column_is_recorded_by_its_hash_and_acknowledged(configure, poll, epp_server):
    """RFC 5730 sets no length on msgID: a registry's long id must not fail every later poll on the same message."""
    configure()
    long_id = "m" * 300
    with epp_server.lock:
        epp_server.registry.queues.setdefault("registrar-a", []).append(
            QueuedMessage(long_id, epp_server.registry.now(), "A long id.", None)
        )
    assert poll().status == RegistrarPoll.Status.SUCCEEDED
    recorded = RegistrarPollMessage.objects.get(text="A long id.")
    assert recorded.message_id == "sha256:" + hashlib.sha256(long_id.encode()).hexdigest()
    assert recorded.acked_at is not None and _queue_of(epp_server) == []

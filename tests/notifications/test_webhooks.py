"""Outbound webhooks: the outbox an event writes, signed deliveries to a real HTTP receiver, what each answer does,
refused destinations, and the services that govern endpoints."""

import datetime
import json
import time

import pytest
import standardwebhooks
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from core import crypto
from notifications.audit import REDACTED, audit_for
from notifications.bus import emit
from notifications.models import ActivityLog, Event, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from notifications.reactions import trigger_map
from notifications.webhooks import delivery as delivery_module
from notifications.webhooks.delivery import RETRY_DELAYS, Outcome, deliver
from notifications.webhooks.destinations import DestinationRefused, address_refused, destination_check
from notifications.webhooks.services import delivery_redeliver, endpoint_change, endpoint_create, endpoint_test
from notifications.webhooks.tasks import sweep_due
from tests.notifications.webhook_receiver import Reply

pytestmark = pytest.mark.django_db


def add_endpoint(url, *, events=None, active=True, reason="a receiver for the tests"):
    return endpoint_create(url=url, events=events, all_events=events is None, active=active, actor=None, reason=reason)


def emit_committed(django_capture_on_commit_callbacks, name="InvoicePaid", **payload):
    with django_capture_on_commit_callbacks(execute=True):
        return emit(name, **payload)


def only_delivery():
    return WebhookDelivery.objects.get()


def due_now(delivery):
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())


# --- signed deliveries -----------------------------------------------------------------------------------------


def test_a_delivery_is_signed_so_the_standard_webhooks_library_verifies_it(
    receiver, django_capture_on_commit_callbacks
):
    created = add_endpoint(receiver.url)
    event = emit_committed(django_capture_on_commit_callbacks, invoice_id=7, total="12.50")
    [request] = receiver.wait_for(1)
    verified = standardwebhooks.Webhook(created.secret).verify(request.body, request.headers)
    assert verified["type"] == "InvoicePaid"
    assert verified["data"] == {"invoice_id": 7, "total": "12.50"}
    assert verified["timestamp"] == event.created_at.isoformat()
    delivery = only_delivery()
    assert request.headers["webhook-id"] == f"msg_{delivery.pk}"
    assert request.headers["webhook-signature"].startswith("v1,")
    assert request.headers["content-type"] == "application/json"
    assert delivery.status == WebhookDelivery.Status.DELIVERED
    attempt = WebhookAttempt.objects.get()
    assert (attempt.status_code, attempt.outcome, attempt.response_excerpt) == (200, "delivered", "ok")
    assert attempt.signature == request.headers["webhook-signature"]


def test_a_tampered_body_fails_the_libraries_verification(receiver, django_capture_on_commit_callbacks):
    created = add_endpoint(receiver.url)
    emit_committed(django_capture_on_commit_callbacks, invoice_id=7)
    [request] = receiver.wait_for(1)
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
        standardwebhooks.Webhook(created.secret).verify(request.body.replace(b"7", b"8"), request.headers)


def test_only_the_subscribed_active_endpoints_get_a_delivery(receiver, django_capture_on_commit_callbacks):
    paid = add_endpoint(receiver.url, events=["InvoicePaid"]).endpoint
    add_endpoint(receiver.url, events=["OrderCreated"])
    add_endpoint(receiver.url, active=False)
    everything = add_endpoint(receiver.url).endpoint
    emit_committed(django_capture_on_commit_callbacks, invoice_id=1)
    assert set(WebhookDelivery.objects.values_list("endpoint_id", flat=True)) == {paid.pk, everything.pk}


def test_an_event_that_is_rolled_back_writes_no_delivery_and_sends_nothing(receiver):
    add_endpoint(receiver.url)
    with pytest.raises(RuntimeError), transaction.atomic():
        emit("InvoicePaid", invoice_id=1)
        raise RuntimeError("the change failed")
    assert not WebhookDelivery.objects.exists()
    assert receiver.requests == []


def test_the_outbox_holds_one_delivery_per_event_and_endpoint(receiver):
    endpoint = add_endpoint(receiver.url).endpoint
    event = emit("InvoicePaid", invoice_id=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        WebhookDelivery.objects.create(event=event, endpoint=endpoint, event_type=event.name)


# --- what each answer does -------------------------------------------------------------------------------------


def test_a_5xx_is_retried_on_the_schedule_with_jitter(receiver, django_capture_on_commit_callbacks):
    receiver.answer(Reply(status=503, body=b"down for maintenance"))
    add_endpoint(receiver.url)
    emit_committed(django_capture_on_commit_callbacks, invoice_id=1)
    delivery = only_delivery()
    assert delivery.status == WebhookDelivery.Status.PENDING
    assert delivery.attempts == 1 and delivery.last_status_code == 503
    wait = (delivery.next_attempt_at - WebhookAttempt.objects.get().attempted_at).total_seconds()
    assert RETRY_DELAYS[0] * 0.9 <= wait <= RETRY_DELAYS[0] * 1.1
    assert WebhookAttempt.objects.get().response_excerpt == "down for maintenance"


def test_the_retry_schedule_is_the_specs_and_ends_in_failure(receiver, django_capture_on_commit_callbacks):
    receiver.answer(Reply(status=500))
    add_endpoint(receiver.url)
    emit_committed(django_capture_on_commit_callbacks, invoice_id=1)
    delivery = only_delivery()
    waits = []
    for _ in RETRY_DELAYS:
        before = timezone.now()
        waits.append((delivery.next_attempt_at - before).total_seconds())
        due_now(delivery)
        assert deliver(delivery.pk).outcome in (Outcome.RETRY, Outcome.FAILED)
        delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.FAILED
    assert delivery.attempts == len(RETRY_DELAYS) + 1 == len(receiver.requests)
    assert [round(w / d, 1) for w, d in zip(waits, RETRY_DELAYS, strict=True)] == pytest.approx([1.0] * 7, abs=0.11)
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1  # the same id on every attempt


def test_a_429_waits_at_least_as_long_as_its_retry_after(receiver, django_capture_on_commit_callbacks):
    receiver.answer(Reply(status=429, headers={"Retry-After": "120"}))
    add_endpoint(receiver.url)
    emit_committed(django_capture_on_commit_callbacks, invoice_id=1)
    delivery = only_delivery()
    assert delivery.status == WebhookDelivery.Status.PENDING
    assert (delivery.next_attempt_at - timezone.now()).total_seconds() > 110


def test_a_retry_after_date_is_honoured():
    now = timezone.now()
    later = (now + datetime.timedelta(minutes=10)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert 590 < delivery_module.retry_after_seconds(later, now) <= 600
    assert delivery_module.retry_after_seconds("soon", now) == 0


def test_a_410_disables_the_endpoint_and_tells_the_admins(
    receiver, django_capture_on_commit_callbacks, mailoutbox, settings
):
    settings.ADMINS = [("Ops", "ops@example.com")]
    receiver.answer(Reply(status=410))
    endpoint = add_endpoint(receiver.url).endpoint
    emit_committed(django_capture_on_commit_callbacks, invoice_id=1)
    endpoint.refresh_from_db()
    assert (endpoint.active, endpoint.disabled_reason) == (False, WebhookEndpoint.DisabledReason.GONE)
    assert only_delivery().status == WebhookDelivery.Status.FAILED
    assert audit_for(endpoint).first().action == "disabled"
    assert ActivityLog.objects.filter(action="webhook_endpoint_disabled", subject_id=endpoint.pk).exists()
    assert [m.to for m in mailoutbox] == [["ops@example.com"]]
    emit_committed(django_capture_on_commit_callbacks, invoice_id=2)
    assert WebhookDelivery.objects.count() == 1  # a disabled endpoint gets no more deliveries


@pytest.mark.parametrize("status", [400, 401, 404, 422])
def test_any_other_4xx_fails_at_once(receiver, django_capture_on_commit_callbacks, status):
    receiver.answer(Reply(status=status, body=b"bad payload"))
    add_endpoint(receiver.url)
    emit_committed(django_capture_on_commit_callbacks, invoice_id=1)
    delivery = only_delivery()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("failed", 1, status)


def test_a_slow_receiver_is_cut_off_by_the_timeout_and_retried(receiver, django_capture_on_commit_callbacks, settings):
    settings.WEBHOOKS_READ_TIMEOUT = 0.3
    receiver.answer(Reply(delay=2))
    add_endpoint(receiver.url)
    started = time.monotonic()
    emit_committed(django_capture_on_commit_callbacks, invoice_id=1)
    assert time.monotonic() - started < 1.5
    delivery = only_delivery()
    assert delivery.status == WebhookDelivery.Status.PENDING and delivery.last_status_code is None
    assert "timed out" in WebhookAttempt.objects.get().error


@pytest.mark.parametrize(
    ("drip", "declared"),
    [("headers", None), ("body", 200), ("body", None)],
    ids=["headers", "body", "body-until-closed"],
)
def test_a_receiver_dripping_its_answer_is_cut_off_at_the_deadline_and_retried(
    receiver, django_capture_on_commit_callbacks, settings, drip, declared
):
    settings.WEBHOOKS_READ_TIMEOUT = 1.0  # each byte comes within it
    settings.WEBHOOKS_DEADLINE = 1.5
    receiver.answer(Reply(drip=drip, declared_length=declared, drip_every=0.2))
    add_endpoint(receiver.url)
    started = time.monotonic()
    emit_committed(django_capture_on_commit_callbacks, invoice_id=1)
    assert 1.4 < time.monotonic() - started < 2.5  # the whole answer would take over 40 s
    delivery = only_delivery()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, None)
    assert delivery.next_attempt_at > timezone.now()
    assert WebhookAttempt.objects.get().error == "timed out: over 1.5 s"


@pytest.mark.parametrize("declared", [None, 5 * 1024**3], ids=["streamed", "content-length"])
def test_a_huge_answer_is_cut_off_by_the_size_limit_and_retried(
    receiver, django_capture_on_commit_callbacks, settings, declared
):
    settings.WEBHOOKS_MAX_RESPONSE_BYTES = 100_000
    receiver.answer(Reply(endless=True, declared_length=declared))
    add_endpoint(receiver.url)
    started = time.monotonic()
    emit_committed(django_capture_on_commit_callbacks, invoice_id=1)
    assert time.monotonic() - started < 2
    delivery = only_delivery()
    assert delivery.status == WebhookDelivery.Status.PENDING
    assert "too big" in WebhookAttempt.objects.get().error


def test_a_refused_connection_is_retried(django_capture_on_commit_callbacks):
    add_endpoint("http://127.0.0.1:9/hook")  # the discard port: nobody listens
    emit_committed(django_capture_on_commit_callbacks, invoice_id=1)
    delivery = only_delivery()
    assert delivery.status == WebhookDelivery.Status.PENDING
    assert "connection failed" in WebhookAttempt.objects.get().error


def test_an_endpoint_failing_for_days_is_disabled(receiver, django_capture_on_commit_callbacks, settings):
    receiver.answer(Reply(status=500))
    endpoint = add_endpoint(receiver.url).endpoint
    emit_committed(django_capture_on_commit_callbacks, invoice_id=1)
    endpoint.refresh_from_db()
    assert endpoint.active and endpoint.failing_since is not None
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failing_since=timezone.now() - datetime.timedelta(days=6))
    delivery = only_delivery()
    due_now(delivery)
    deliver(delivery.pk)
    endpoint.refresh_from_db()
    assert (endpoint.active, endpoint.disabled_reason) == (False, WebhookEndpoint.DisabledReason.FAILING)
    assert ActivityLog.objects.filter(action="webhook_endpoint_disabled").count() == 1


def test_a_delivery_clears_the_endpoints_failing_since(receiver, django_capture_on_commit_callbacks):
    receiver.answer(Reply(status=500), Reply(status=200))
    endpoint = add_endpoint(receiver.url).endpoint
    emit_committed(django_capture_on_commit_callbacks, invoice_id=1)
    due_now(only_delivery())
    assert deliver(only_delivery().pk).outcome == Outcome.DELIVERED
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None


def test_a_delivery_clears_failing_since_set_by_a_failure_during_its_post(
    receiver, django_capture_on_commit_callbacks, monkeypatch
):
    endpoint = add_endpoint(receiver.url).endpoint
    real_post = delivery_module.post

    def post_while_another_delivery_fails(*args, **kwargs):
        answer = real_post(*args, **kwargs)  # the real POST, then another sender's failure is recorded
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failing_since=timezone.now())
        return answer

    monkeypatch.setattr(delivery_module, "post", post_while_another_delivery_fails)
    emit_committed(django_capture_on_commit_callbacks, invoice_id=1)
    assert only_delivery().status == WebhookDelivery.Status.DELIVERED
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None


# --- claims, the sweep, redelivery, the test event -------------------------------------------------------------


def test_a_claimed_delivery_is_not_sent_by_a_second_sender(receiver):
    add_endpoint(receiver.url)
    emit("InvoicePaid", invoice_id=1)  # its task waits for a commit that never comes in this test
    delivery = only_delivery()
    assert delivery_module._claim(delivery.pk, timezone.now()) is not None  # another sender holds it
    assert deliver(delivery.pk).outcome == Outcome.NOT_DUE
    assert receiver.requests == []


def due_since(delivery, ago):
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now() - ago)


def test_the_sweep_sends_a_delivery_whose_task_was_lost(receiver, settings):
    add_endpoint(receiver.url)
    emit("InvoicePaid", invoice_id=1)  # the on-commit task never runs: as if Redis was down at commit
    assert sweep_due() == 0  # its task may still be waiting in the queue
    due_since(only_delivery(), settings.WEBHOOKS_SWEEP_AFTER + datetime.timedelta(seconds=1))
    assert sweep_due() == 1
    assert only_delivery().status == WebhookDelivery.Status.DELIVERED
    assert sweep_due() == 0
    assert len(receiver.requests) == 1


def test_the_sweep_leaves_retries_that_are_not_due(receiver, django_capture_on_commit_callbacks):
    receiver.answer(Reply(status=500))
    add_endpoint(receiver.url)
    emit_committed(django_capture_on_commit_callbacks, invoice_id=1)
    WebhookDelivery.objects.update(attempts=2)  # a retry past the first: no task of its own
    assert sweep_due() == 0
    due_now(only_delivery())
    assert sweep_due() == 1


@pytest.mark.parametrize("attempts", [0, 1], ids=["first-attempt", "first-retry"])
def test_the_sweep_leaves_a_delivery_whose_task_may_still_be_queued_for_the_grace(receiver, settings, attempts):
    settings.WEBHOOKS_SWEEP_AFTER = datetime.timedelta(minutes=2)
    add_endpoint(receiver.url)
    emit("InvoicePaid", invoice_id=1)  # its task waits for a commit that never comes: as if queued behind others
    delivery = only_delivery()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(attempts=attempts)
    for _minute in range(2):  # the sweep runs every minute: the queued task is not doubled meanwhile
        due_since(delivery, datetime.timedelta(seconds=110))
        assert sweep_due() == 0
    due_since(delivery, datetime.timedelta(seconds=121))
    assert sweep_due() == 1
    assert len(receiver.requests) == 1


def test_the_sweep_hands_out_a_later_retry_as_soon_as_it_is_due(receiver):
    add_endpoint(receiver.url)
    emit("InvoicePaid", invoice_id=1)
    delivery = only_delivery()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(attempts=3, next_attempt_at=timezone.now())
    assert sweep_due() == 1
    assert only_delivery().status == WebhookDelivery.Status.DELIVERED


def test_redelivery_sends_again_with_the_same_webhook_id(receiver, django_capture_on_commit_callbacks):
    add_endpoint(receiver.url)
    emit_committed(django_capture_on_commit_callbacks, invoice_id=1)
    delivery = only_delivery()
    with django_capture_on_commit_callbacks(execute=True):
        delivery_redeliver(delivery_id=delivery.pk, actor=None)
    first, second = receiver.wait_for(2)
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == delivery.webhook_id
    assert first.body == second.body
    assert WebhookAttempt.objects.filter(delivery=delivery).count() == 2
    assert audit_for(delivery.endpoint).first().action == "redelivered"


def test_a_test_event_is_signed_and_sent_to_one_endpoint(receiver, django_capture_on_commit_callbacks):
    created = add_endpoint(receiver.url, events=["OrderCreated"])
    with django_capture_on_commit_callbacks(execute=True):
        endpoint_test(endpoint_id=created.endpoint.pk, actor=None)
    [request] = receiver.wait_for(1)
    payload = standardwebhooks.Webhook(created.secret).verify(request.body, request.headers)
    assert payload["type"] == "WebhookTest"
    assert audit_for(created.endpoint).first().action == "tested"


# --- endpoints: validation, the secret, governance -------------------------------------------------------------


def test_the_secret_is_whsec_and_base64_and_the_audit_redacts_it(receiver):
    created = add_endpoint(receiver.url)
    assert created.secret.startswith("whsec_")
    assert len(standardwebhooks.Webhook(created.secret)._whsecret) == 32
    entry = audit_for(created.endpoint).get()
    assert entry.after["secret"] == REDACTED and created.secret not in json.dumps(entry.after)


@pytest.mark.parametrize(
    "url", ["ftp://example.com/hook", "example.com/hook", "javascript:alert(1)", "http://", "http://u:p@example.com/"]
)
def test_a_url_that_is_not_http_is_refused_with_a_clear_message(url):
    with pytest.raises(ValidationError) as refused:
        add_endpoint(url)
    assert "url" in refused.value.message_dict
    assert not WebhookEndpoint.objects.exists()


def test_an_unknown_event_or_no_event_is_refused(receiver):
    with pytest.raises(ValidationError, match="Unknown event"):
        add_endpoint(receiver.url, events=["InvoicePayed"])
    with pytest.raises(ValidationError, match="Choose the events"):
        add_endpoint(receiver.url, events=[])


def test_a_change_needs_a_reason_and_is_audited(receiver):
    endpoint = add_endpoint(receiver.url).endpoint
    with pytest.raises(ValidationError):
        endpoint_change(
            endpoint_id=endpoint.pk,
            url=receiver.url,
            events=None,
            all_events=True,
            description="x",
            active=True,
            actor=None,
            reason=" ",
        )
    endpoint_change(
        endpoint_id=endpoint.pk,
        url=receiver.url,
        events=["InvoicePaid"],
        all_events=False,
        description="billing",
        active=True,
        actor=None,
        reason="only payments",
    )
    entry = audit_for(endpoint).first()
    assert entry.before == {"all_events": True, "events": [], "description": ""}
    assert entry.after == {"all_events": False, "events": ["InvoicePaid"], "description": "billing"}


# --- refused destinations --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "0.0.0.0",
        "::1",
        "fe80::1",
        "fc00::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "100.64.0.1",
        "224.0.0.1",
        "64:ff9b::7f00:1",  # NAT64 (well-known prefix) to 127.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 to 169.254.169.254
        "64:ff9b:1::a00:1",  # NAT64 (local-use prefix) to 10.0.0.1
        "::7f00:1",  # IPv4-compatible 127.0.0.1
        "::a00:1",  # IPv4-compatible 10.0.0.1
    ],
)
def test_inside_addresses_are_refused(address):
    assert address_refused(address)


@pytest.mark.parametrize(
    "address",
    [
        "93.184.216.34",
        "2606:2800:220:1:248:1893:25c8:1946",
        "::ffff:93.184.216.34",
        "64:ff9b::5db8:d822",  # NAT64 to 93.184.216.34
    ],
)
def test_public_addresses_are_allowed(address):
    assert not address_refused(address)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hook",
        "http://localhost/hook",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/",
        "https://169.254.169.254/latest/meta-data",
        "http://10.0.0.5/hook",
    ],
)
def test_an_inside_destination_is_refused_when_saved_in_production(settings, url):
    settings.WEBHOOKS_ALLOW_PRIVATE_DESTINATIONS = False
    with pytest.raises(ValidationError) as refused:
        add_endpoint(url)
    assert "only sent to public addresses" in refused.value.message_dict["url"][0]


def test_an_inside_destination_is_refused_again_when_delivering(receiver, settings, django_capture_on_commit_callbacks):
    add_endpoint(receiver.url)  # saved while allowed (or the name pointed outside then: DNS rebinding)
    settings.WEBHOOKS_ALLOW_PRIVATE_DESTINATIONS = False
    emit_committed(django_capture_on_commit_callbacks, invoice_id=1)
    delivery = only_delivery()
    assert delivery.status == WebhookDelivery.Status.FAILED
    assert "only sent to public addresses" in delivery.last_error
    assert receiver.requests == []


def test_the_sender_connects_to_the_checked_address(monkeypatch, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_DESTINATIONS = False
    answers = iter([[(2, 1, 6, "", ("93.184.216.34", 443))], [(2, 1, 6, "", ("127.0.0.1", 443))]])
    monkeypatch.setattr("socket.getaddrinfo", lambda *args, **kwargs: next(answers))
    destination = destination_check("https://hooks.example.com/in")
    assert (destination.address, destination.host) == ("93.184.216.34", "hooks.example.com")
    with pytest.raises(DestinationRefused):  # the name now points inside: refused, not followed
        destination_check("https://hooks.example.com/in")


# --- the trigger map --------------------------------------------------------------------------------------------


def test_the_trigger_map_lists_the_subscribed_endpoints_in_one_query(receiver, django_assert_max_num_queries):
    add_endpoint("http://127.0.0.1:1/paid", events=["InvoicePaid"])
    add_endpoint("http://127.0.0.1:1/off", events=["InvoicePaid", "OrderCreated"], active=False)
    add_endpoint("http://127.0.0.1:1/all")
    from notifications.webhooks.reactions import webhook_reactions

    with django_assert_max_num_queries(1):
        webhook_reactions()
    with django_assert_max_num_queries(4):  # one per source: hook switches, pre-hooks, templates, endpoints
        reactions = {entry.name: [r for r in entry.reactions if r.kind == "webhook"] for entry in trigger_map()}
    assert [(r.name, r.enabled) for r in reactions["InvoicePaid"]] == [
        ("http://127.0.0.1:1/paid", True),
        ("http://127.0.0.1:1/off", False),
        ("http://127.0.0.1:1/all", True),
    ]
    assert [r.name for r in reactions["DomainExpired"]] == ["http://127.0.0.1:1/all"]


def test_events_are_recorded_as_before_without_endpoints(django_assert_num_queries):
    with transaction.atomic():
        emit("InvoicePaid", invoice_id=1)
        with django_assert_num_queries(1):  # the endpoints were read once for this transaction
            emit("InvoicePaid", invoice_id=2)
    assert Event.objects.count() == 2 and not WebhookDelivery.objects.exists()


def test_the_standard_library_receiver_of_the_docs_verifies_a_delivery(receiver, django_capture_on_commit_callbacks):
    import base64
    import hashlib
    import hmac

    created = add_endpoint(receiver.url)
    emit_committed(django_capture_on_commit_callbacks, invoice_id=7)
    [request] = receiver.wait_for(1)
    key = base64.b64decode(created.secret.removeprefix("whsec_"))  # as in docs/WEBHOOKS.md
    headers = request.headers
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + request.body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert abs(time.time() - int(headers["webhook-timestamp"])) < 300
    assert any(hmac.compare_digest(expected, s.removeprefix("v1,")) for s in headers["webhook-signature"].split())


def test_a_host_that_does_not_resolve_at_delivery_is_retried(django_capture_on_commit_callbacks):
    add_endpoint("http://receiver.invalid/hook")  # saved while private destinations are allowed: form only
    emit_committed(django_capture_on_commit_callbacks, invoice_id=1)
    delivery = only_delivery()
    assert delivery.status == WebhookDelivery.Status.PENDING and delivery.attempts == 1
    assert "does not resolve" in delivery.last_error


def test_a_host_that_does_not_resolve_is_refused_when_saved_in_production(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_DESTINATIONS = False
    with pytest.raises(ValidationError, match="does not resolve"):
        add_endpoint("https://receiver.invalid/hook")


@pytest.mark.django_db(transaction=True)
def test_each_transaction_reads_the_endpoints_afresh_even_through_one_decorated_function(receiver):
    @transaction.atomic
    def pay(invoice_id):  # the same Atomic object is the outermost block on every call
        emit("InvoicePaid", invoice_id=invoice_id)

    pay(1)
    # Another process adds an endpoint (not through this process's services, so nothing here clears the cache).
    WebhookEndpoint.objects.create(url=receiver.url, all_events=True, secret_token=crypto.encrypt("whsec_" + "A" * 44))
    pay(2)
    assert WebhookDelivery.objects.filter(event__payload__invoice_id=2).count() == 1

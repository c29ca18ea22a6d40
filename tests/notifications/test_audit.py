import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import DatabaseError, transaction

from notifications.audit import REDACTED, audit_for, audit_record, changed_fields
from notifications.models import AuditEntry, Event
from notifications.reactions import Reaction, _sources, reaction_source, trigger_map


@pytest.fixture
def admin_user(db):
    return get_user_model().objects.create_user("governor", password="x", is_staff=True)


@pytest.fixture
def subject(db):
    return Event.objects.create(name="InvoicePaid")  # any row will do as the thing changed


def test_a_change_is_recorded_with_who_why_and_the_fields_before_and_after(admin_user, subject):
    audit_record(
        actor=admin_user,
        subject=subject,
        action="changed",
        reason="  the receiver moved  ",
        before={"url": "https://old.example/hook", "secret": "whsec_old"},
        after={"url": "https://new.example/hook", "secret": "whsec_new"},
        secret_fields=["secret"],
    )
    entry = audit_for(subject).get()
    assert (entry.actor_label, entry.action, entry.reason) == ("governor", "changed", "the receiver moved")
    assert entry.before == {"url": "https://old.example/hook", "secret": REDACTED}
    assert entry.after == {"url": "https://new.example/hook", "secret": REDACTED}
    assert entry.subject_label == str(subject)


def test_a_change_without_a_reason_is_refused_and_writes_nothing(admin_user, subject):
    with pytest.raises(ValidationError) as refused:
        audit_record(actor=admin_user, subject=subject, action="changed", reason="   ")
    assert "reason" in refused.value.message_dict
    assert not AuditEntry.objects.exists()


def test_changed_fields_keeps_only_what_changes(subject):
    before, after = changed_fields(subject, {"name": "InvoicePaid", "payload": {"a": 1}})
    assert (before, after) == ({"payload": {}}, {"payload": {"a": 1}})


@pytest.mark.postgres
def test_the_audit_refuses_updates_and_deletes_on_postgresql(admin_user, subject):
    audit_record(actor=admin_user, subject=subject, action="created", reason="first")
    for statement in (
        lambda: AuditEntry.objects.update(reason="rewritten"),
        lambda: AuditEntry.objects.all().delete(),
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            statement()
    assert AuditEntry.objects.get().reason == "first"


def test_deleting_the_user_keeps_their_audit_entries(admin_user, subject):
    audit_record(actor=admin_user, subject=subject, action="created", reason="first")
    admin_user.delete()
    assert AuditEntry.objects.get().actor_label == "governor"


def test_the_trigger_map_orders_reactions_as_they_run(db):
    @reaction_source("test")
    def source():
        return {
            "InvoicePaid": [
                Reaction(kind="webhook", name="https://hooks.example/a"),
                Reaction(kind="email", name="payment_confirmation", enabled=False),
                Reaction(kind="pre-hook", name="hooks.check"),
            ]
        }

    try:
        entry = next(e for e in trigger_map() if e.name == "InvoicePaid")
    finally:
        del _sources["test"]
    kinds = [r.kind for r in entry.reactions if r.kind != "handler" or r.name.startswith("provisioning")]
    assert kinds[0] == "pre-hook" and kinds[-2:] == ["email", "webhook"]
    assert "handler" in kinds, "provisioning's InvoicePaid handler is listed"


def test_the_trigger_map_lists_handlers_and_hooks_together_by_priority(db):
    @reaction_source("test")
    def source():
        return {"InvoicePaid": [Reaction(kind="hook", name="vendor.hooks.notify_crm", order=15)]}

    try:
        entry = next(e for e in trigger_map() if e.name == "InvoicePaid")
    finally:
        del _sources["test"]
    names = [r.name for r in entry.reactions if r.kind in ("handler", "hook")]
    assert names == [
        "provisioning.handlers.extend_items_on_payment",  # priority 10
        "vendor.hooks.notify_crm",  # 15: dispatch runs it between the two
        "provisioning.handlers.unsuspend_on_payment",  # 20
        "provisioning.handlers.setup_on_payment",  # 30
        "provisioning.handlers.register_domains_on_payment",  # 35
    ]

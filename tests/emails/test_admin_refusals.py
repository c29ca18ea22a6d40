"""The email and hook-switch admins answer a refusal or an unknown id with a message or a 404, never an error
page."""

import pytest
from django.urls import reverse

from notifications.hook_models import HookSwitch
from notifications.models import OutboundEmail

pytestmark = pytest.mark.django_db


def _email(customer, key, status):
    return OutboundEmail.objects.create(
        template="service_welcome",
        to_address=customer.email,
        idempotency_key=key,
        client_id=customer.pk,
        status=status,
        last_error="550 No such user" if status == "failed" else "",
    )


def test_retrying_an_unknown_email_is_a_404(admin_client):
    assert admin_client.post(reverse("admin:notifications_outboundemail_retry", args=[999999])).status_code == 404


def test_retrying_a_selection_names_the_email_that_stopped_being_failed_and_retries_the_others(
    admin_client, customer, monkeypatch
):
    first, second = _email(customer, "r:1", "failed"), _email(customer, "r:2", "failed")
    from notifications.emails import admin as email_admin

    real_retry = email_admin.email_retry

    def retry(*, email_id, actor):  # another admin retried the first one between the list and this action
        if email_id == first.pk:
            OutboundEmail.objects.filter(pk=first.pk).update(status="queued")
        return real_retry(email_id=email_id, actor=actor)

    monkeypatch.setattr(email_admin, "email_retry", retry)
    response = admin_client.post(
        reverse("admin:notifications_outboundemail_changelist"),
        {"action": "retry_selected", "_selected_action": [first.pk, second.pk]},
        follow=True,
    )
    assert response.status_code == 200
    text = response.content.decode()
    assert "1 failed email(s) queued again." in text and f"Email #{first.pk} is queued, not failed" in text
    assert OutboundEmail.objects.get(pk=second.pk).status == "queued"


def test_switching_off_a_hook_that_went_away_meanwhile_is_refused_with_a_message(admin_client, monkeypatch):
    from notifications import hook_switches
    from notifications.hook_admin import known_hooks

    hook = known_hooks()[0]
    monkeypatch.setattr(hook_switches, "known_hooks", list)  # its package removed between the form and the save
    response = admin_client.post(
        reverse("admin:notifications_hookswitch_add"),
        {"hook": f"{hook.event_name} {hook.handler}", "reason": "noisy"},
        follow=True,
    )
    assert response.status_code == 200
    text = response.content.decode()
    assert "Nothing was saved" in text and f"is not a hook of {hook.event_name}" in text
    assert not HookSwitch.objects.exists()

"""Email templates: refused when they do not parse or read a variable their event does not provide, changed only
with a reason and audited, previewed on sample data, edited in the admin, and listed in the trigger map."""

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.urls import reverse

from notifications.audit import audit_for
from notifications.emails.catalog import TEMPLATES, template_files
from notifications.emails.templates import TemplateChange, email_template_preview, email_template_update
from notifications.models import EmailTemplate
from notifications.reactions import trigger_map

pytestmark = pytest.mark.django_db


def _template(name="service_suspended"):
    return EmailTemplate.objects.get(name=name)


def _update(template, reason="clearer wording", **changes):
    return email_template_update(template_id=template.pk, changes=changes, reason=reason, actor=None)


def test_every_default_template_is_seeded_from_its_files_and_renders_on_its_samples():
    assert set(EmailTemplate.objects.values_list("name", flat=True)) >= set(TEMPLATES)
    for name in TEMPLATES:
        template = _template(name)
        assert (template.subject, template.body_text, template.body_html) == template_files(name)
        rendered = email_template_preview(template=template)
        assert rendered.subject and "Example Hosting" in rendered.body_text


def test_each_reminder_level_of_the_settings_has_a_template():
    from automation.models import default_reminder_levels

    assert {level["template"] for level in default_reminder_levels()} <= set(TEMPLATES)


@pytest.mark.parametrize(
    ("part", "source", "says"),
    [
        ("subject", "{% if product %}", "does not parse"),
        ("body_text", "{{ product|nosuchfilter }}", "does not parse"),
        ("body_html", "Dear {{ client.name }}", "Unknown variable client"),
        ("body_text", "{% for x in invoices %}{{ x }}{% endfor %}", "Unknown variable invoices"),
        ("subject", "{{ product|default:password }}", "Unknown variable password"),
    ],
)
def test_a_template_that_does_not_parse_or_reads_an_unknown_variable_is_refused_and_nothing_changes(part, source, says):
    template = _template()
    before = template.subject, template.body_text, template.body_html
    with pytest.raises(ValidationError) as refused:
        _update(template, **{part: source})
    assert says in " ".join(refused.value.message_dict[part])
    template.refresh_from_db()
    assert (template.subject, template.body_text, template.body_html) == before
    assert not audit_for(template).exists()


def test_filters_tags_and_loop_variables_on_known_variables_are_accepted():
    template = _template("order_confirmation")
    outcome = _update(
        template,
        body_text="{{ client_name|upper }} {% for item in items %}{{ forloop.counter }}. {{ item|title }}{% endfor %}"
        ' {% if total == "0.00" %}free{% endif %} {% with n=order_id %}{{ n }}{% endwith %}',
    )
    assert outcome.change == TemplateChange.CHANGED
    assert "1. Starter Hosting (Example.Org)" in email_template_preview(template=outcome.template).body_text


def test_a_change_needs_a_reason_and_lands_in_the_audit_with_before_and_after():
    template = _template()
    with pytest.raises(ValidationError):
        _update(template, reason="  ", enabled=False)
    _update(template, reason="we phone them instead", enabled=False)
    [entry] = audit_for(template)
    assert entry.reason == "we phone them instead"
    assert (entry.before, entry.after) == ({"enabled": True}, {"enabled": False})


def test_the_trigger_map_lists_each_events_templates_and_the_switched_off_ones():
    _update(_template("service_unsuspended"), enabled=False)
    by_event = {entry.name: entry.reactions for entry in trigger_map()}
    emails = {r.name: r for r in by_event["InvoicePaymentReminder"] if r.kind == "email"}
    assert set(emails) == {name for name, spec in TEMPLATES.items() if spec.event == "InvoicePaymentReminder"}
    [unsuspended] = [r for r in by_event["ServiceUnsuspended"] if r.kind == "email"]
    assert unsuspended.name == "service_unsuspended" and unsuspended.enabled is False


def test_the_trigger_map_reads_the_templates_in_one_query(django_assert_num_queries):
    from notifications.emails.reactions import email_reactions

    with django_assert_num_queries(1):
        email_reactions()
    # The whole map: one query per source (hook switches, pre-hooks' switches, templates, endpoints), not per event.
    with django_assert_num_queries(4):
        trigger_map()


def test_the_trigger_map_command_prints_the_email_reactions(capsys):
    call_command("trigger_map")
    assert "order_confirmation" in capsys.readouterr().out


def test_the_admin_edits_a_template_with_a_reason_and_shows_the_preview_and_audit(admin_client):
    template = _template()
    url = reverse("admin:notifications_emailtemplate_change", args=[template.pk])
    page = admin_client.get(url)
    assert page.status_code == 200
    assert "Your service Starter Hosting is suspended" in page.content.decode()  # the preview, on the samples
    form = {
        "description": template.description,
        "enabled": "on",
        "subject": "Suspended: {{ product }}",
        "body_text": template.body_text,
        "body_html": template.body_html,
    }
    refused = admin_client.post(url, {**form, "subject": "{{ secret }}", "reason": "test"})
    assert refused.status_code == 200 and "Unknown variable secret" in refused.content.decode()
    no_reason = admin_client.post(url, {**form, "reason": ""})
    assert no_reason.status_code == 200 and "This field is required" in no_reason.content.decode()
    assert admin_client.post(url, {**form, "reason": "shorter"}).status_code == 302
    template.refresh_from_db()
    assert template.subject == "Suspended: {{ product }}"
    assert "shorter" in admin_client.get(url).content.decode()  # the audit on its page
    html = admin_client.get(reverse("admin:notifications_emailtemplate_preview_html", args=[template.pk]))
    assert b"<strong>Starter Hosting</strong>" in html.content and "sandbox" in html["Content-Security-Policy"]

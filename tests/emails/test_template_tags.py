"""A template reaches only the context's plain values: a tag that reaches outside them (include, extends, load,
url, debug, ...) is refused naming the tag, one that parses and then fails on the sample data is refused when
saved, and a stored template that fails anyway shows its error in the admin's preview, never an error page."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from notifications.emails.templates import email_template_update
from notifications.models import EmailTemplate

pytestmark = pytest.mark.django_db


def _template(name="service_suspended"):
    return EmailTemplate.objects.get(name=name)


def _update(template, **changes):
    return email_template_update(template_id=template.pk, changes=changes, reason="try it", actor=None)


@pytest.mark.parametrize(
    ("source", "says"),
    [
        ('{% include "x.html" %}', "{% include %}"),
        ('{% extends "x.html" %}', "{% extends %}"),
        ("{% load static %}", "{% load %}"),
        ("{% debug %}", "{% debug %}"),
        ('{% url "login" %}', "{% url %}"),
        ("{% csrf_token %}", "{% csrf_token %}"),
        ('{% if product %}{% include "x.html" %}{% endif %}', "{% include %}"),
        ('{% widthratio 1 1 "a" %}', "does not render on its sample data"),
    ],
)
@pytest.mark.parametrize("part", ["subject", "body_text", "body_html"])
def test_a_tag_that_reaches_outside_the_values_or_fails_on_the_samples_is_refused(part, source, says):
    template = _template()
    before = getattr(template, part)
    with pytest.raises(ValidationError) as refused:
        _update(template, **{part: f"Hello {source}"})
    assert says in " ".join(refused.value.message_dict[part])
    template.refresh_from_db()
    assert getattr(template, part) == before


def test_the_plain_tags_are_accepted():
    template = _template()
    source = (
        '{% now "Y" %} {% firstof product "x" %} {% cycle "a" "b" %} {% widthratio 5 10 100 %}'
        " {% spaceless %}<p> x </p>{% endspaceless %} {% autoescape off %}{{ product }}{% endautoescape %}"
        " {% filter upper %}{{ product }}{% endfilter %} {% templatetag openblock %}"
        " {% verbatim %}{% include 'x' %}{% endverbatim %} {% comment %}note{% endcomment %}"
    )
    assert _update(template, body_text=source).template.body_text == source


@pytest.mark.parametrize("source", ['{% include "x.html" %}', '{% extends "x.html" %}', '{% widthratio 1 1 "a" %}'])
def test_a_stored_template_that_fails_shows_its_error_in_the_admin_not_an_error_page(admin_client, source):
    template = _template()
    EmailTemplate.objects.filter(pk=template.pk).update(body_text=source, body_html=source)  # stored before the check
    page = admin_client.get(reverse("admin:notifications_emailtemplate_change", args=[template.pk]))
    assert page.status_code == 200 and "Does not render" in page.content.decode()
    html = admin_client.get(reverse("admin:notifications_emailtemplate_preview_html", args=[template.pk]))
    assert html.status_code == 200 and b"Does not render" in html.content

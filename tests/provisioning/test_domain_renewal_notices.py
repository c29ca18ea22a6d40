"""Domain renewal notices: once per (domain, expiry date, days before), the most urgent only after a missed day,
and again for the next expiry once the domain is renewed."""

import datetime

import pytest

from automation.models import AutomationSettings
from automation.scheduler import automation_run
from notifications.models import Event, OutboundEmail
from provisioning.models import Domain, DomainRenewalNotice
from tests.factories import DomainFactory

pytestmark = pytest.mark.django_db

EXPIRY = datetime.date(2027, 3, 31)


@pytest.fixture
def domain(customer):
    AutomationSettings.objects.filter(pk=AutomationSettings.load().pk).update(domain_renewal_notice_days=[30, 7])
    return DomainFactory(client=customer, name="keep-me.example", expiry_date=EXPIRY, next_due_date=EXPIRY)


def _notify(day):
    outcome = automation_run(today=day, only=["domain_renewal_notices"], trigger="test")
    assert outcome.ok
    return outcome.steps[0]


def _days(n):
    return EXPIRY - datetime.timedelta(days=n)


def test_each_notice_on_its_day_and_once(domain):
    assert _notify(_days(31)).counts == {}
    step = _notify(_days(30))
    assert step.counts == {"notices queued": 1}
    assert step.plan == [
        f"keep-me.example (client #{domain.client_id}): renewal notice, expires 2027-03-31 (in 30 days)"
    ]
    assert _notify(_days(29)).counts == {}
    assert _notify(_days(7)).counts == {"notices queued": 1}
    assert _notify(_days(6)).counts == {}
    emails = OutboundEmail.objects.filter(template="domain_renewal_notice")
    assert sorted(email.context["days_before"] for email in emails) == [7, 30]
    assert Event.objects.filter(name="DomainRenewalNotice").count() == 2


def test_after_missed_days_only_the_most_urgent_is_sent(domain):
    assert _notify(_days(5)).counts == {"notices queued": 1, "notices skipped": 1}
    notices = DomainRenewalNotice.objects.order_by("days_before").values_list("days_before", "skipped")
    assert list(notices) == [(7, False), (30, True)]
    assert _notify(_days(4)).counts == {}
    assert OutboundEmail.objects.count() == 1


def test_a_renewed_domain_is_reminded_again_for_its_new_expiry(domain):
    _notify(_days(7))
    Domain.objects.filter(pk=domain.pk).update(expiry_date=EXPIRY + datetime.timedelta(days=365))
    assert _notify(_days(7)).counts == {}  # a year away now
    assert _notify(EXPIRY + datetime.timedelta(days=365 - 30)).counts == {"notices queued": 1}


def test_expired_and_inactive_domains_get_none(domain):
    Domain.objects.filter(pk=domain.pk).update(status=Domain.Status.EXPIRED)
    assert _notify(_days(7)).counts == {}
    Domain.objects.filter(pk=domain.pk).update(status=Domain.Status.ACTIVE)
    assert _notify(EXPIRY + datetime.timedelta(days=1)).counts == {}  # past its expiry: domain_expiry's turn

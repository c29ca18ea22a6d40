"""Say only what happened: the run and its events only queue emails (an OutboundEmail is sent later, by its own
task, and may fail), so no event or step of the automation run says that a client was emailed, sent, told or
reminded."""

import re

import pytest

from automation.registry import registered_steps
from notifications.events import EVENTS

# What only a sent email could make true.
CLAIMS = re.compile(
    r"\b(emailed|e-?mails? (the|each|a|its)|sent to (its|the) client|told|tell|reminds?|reminded)\b", re.I
)


def test_the_invoice_sent_event_says_the_email_was_queued():
    assert EVENTS["InvoiceSent"] == "An email of an invoice to its client was queued."


def test_the_domain_renewal_notice_event_says_the_email_was_queued():
    assert EVENTS["DomainRenewalNotice"] == (
        "A domain's renewal notice email was queued for its owner (one per configured day)."
    )


@pytest.mark.parametrize("name", sorted(EVENTS))
def test_no_event_claims_an_email_reached_anyone(name):
    assert not CLAIMS.search(EVENTS[name]), EVENTS[name]


def test_no_step_of_the_run_claims_an_email_reached_anyone():
    descriptions = {step.name: step.description for step in registered_steps()}
    assert descriptions["payment_reminders"].startswith("Queue the reminder email of each unpaid invoice's levels")
    assert descriptions["domain_renewal_notices"].startswith("Queue renewal notice emails to domain owners")
    for name, description in descriptions.items():
        assert not CLAIMS.search(description), (name, description)

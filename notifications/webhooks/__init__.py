"""Outbound webhooks following the Standard Webhooks specification (https://www.standardwebhooks.com/).

The layers, top down: admin and reactions (interfaces) > services (an admin's changes, each with a reason and an
audit entry) > outbox (the delivery rows an event writes, and the task sent after commit) > tasks > delivery (claim,
sign, POST, record, retry) > lifecycle (what the system does to an endpoint) > endpoints | sender | signing |
destinations. The rows are in notifications/webhook_models.py."""

from django.apps import AppConfig


class FraudConfig(AppConfig):
    """Fraud checks stand beside the stack: they take plain facts about an order and return a scored, explained
    result (fraud.services.fraud_check), and import no other app of ours. See docs/FRAUD.md."""

    name = "fraud"
    verbose_name = "Fraud checks"

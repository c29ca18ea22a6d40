from django.apps import AppConfig


class FraudConfig(AppConfig):
    """Fraud checks stand beside the stack: they take plain facts and return a scored, explained result, and
    import no other app of ours. The engine arrives with the fraud issue; the app is registered now so the
    layer contract covers it from the start."""

    name = "fraud"
    verbose_name = "Fraud checks"

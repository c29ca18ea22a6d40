from django.apps import AppConfig


class AutomationConfig(AppConfig):
    name = "automation"
    verbose_name = "Automation"

    def ready(self) -> None:
        # The run's own steps for the notifications layer: the bus sweep, the webhook deliveries
        # that are due, the emails left queued.
        from automation import steps  # noqa: F401

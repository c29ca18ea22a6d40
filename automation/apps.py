from django.apps import AppConfig


class AutomationConfig(AppConfig):
    name = "automation"
    verbose_name = "Automation"

    def ready(self) -> None:
        # The steps the run does for the notifications layer (the webhook deliveries that are due).
        from automation import notification_steps  # noqa: F401

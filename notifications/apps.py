from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Events and notifications"

    def ready(self) -> None:
        # The webhook endpoints' part of the trigger map.
        from notifications.webhooks import reactions  # noqa: F401

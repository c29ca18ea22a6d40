from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Events and notifications"

    def ready(self) -> None:
        from notifications.lookups import register

        register()

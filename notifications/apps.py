from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Events and notifications"

    def ready(self) -> None:
        # tasks registers the tasks that services send by name (emails); reactions lists templates in the map.
        from notifications import tasks  # noqa: F401
        from notifications.emails import reactions  # noqa: F401

from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Events and notifications"

    def ready(self) -> None:
        from notifications import hooks

        hooks.load_hook_packages()  # a provider's own @register / @pre_hook hooks (PORTAL_HOOK_PACKAGES)
        # The webhook endpoints' part of the trigger map.
        from notifications.webhooks import reactions  # noqa: F401

from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Events and notifications"

    def ready(self) -> None:
        from notifications import hooks

        hooks.load_hook_packages()  # a provider's own @register / @pre_hook hooks (PORTAL_HOOK_PACKAGES)
        # tasks registers the tasks that services send by name (emails); the reactions modules add the email
        # templates and the webhook endpoints to the trigger map.
        from notifications import tasks  # noqa: F401
        from notifications.emails import reactions as email_reactions  # noqa: F401
        from notifications.webhooks import reactions as webhook_reactions  # noqa: F401

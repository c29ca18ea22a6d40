from django.apps import AppConfig


class ProvisioningConfig(AppConfig):
    name = "provisioning"
    verbose_name = "Provisioning"

    def ready(self) -> None:
        from django.conf import settings

        from billing.services.reminders import reminder_hold
        from provisioning.modules import registry

        registry.load(settings.PORTAL_MODULE_PACKAGES)
        from provisioning import automation, handlers, tasks  # noqa: F401 - registers the steps, handlers and tasks
        from provisioning.selectors import invoices_awaiting_withdrawal

        reminder_hold(invoices_awaiting_withdrawal, why="a cancellation request will withdraw lines from it")

from django.apps import AppConfig


class ProvisioningConfig(AppConfig):
    name = "provisioning"
    verbose_name = "Provisioning"

    def ready(self) -> None:
        from django.conf import settings

        from billing.services.reminders import reminder_hold
        from provisioning.modules import registry
        from provisioning.registrars import registry as registrars

        registry.load(settings.PORTAL_MODULE_PACKAGES)
        registrars.load(settings.PORTAL_REGISTRAR_PACKAGES)
        # Registers the steps (automation, automation_*), handlers, tasks and the sync reports' admin.
        from provisioning import (  # noqa: F401
            admin_sync,
            automation,
            automation_domain_fees,
            automation_domains,
            automation_modules,
            handlers,
            tasks,
        )
        from provisioning.selectors import invoices_awaiting_withdrawal

        reminder_hold(invoices_awaiting_withdrawal, why="a cancellation request will withdraw lines from it")

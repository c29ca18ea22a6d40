from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing"

    def ready(self) -> None:
        from automation.cycles import billing_cycles_register
        from billing import automation  # noqa: F401 - registers the run's steps
        from billing.cycles import BillingCycle

        # The automation settings' lead days are per billing cycle; automation, below billing, learns them here.
        billing_cycles_register((cycle.value, bool(cycle.months)) for cycle in BillingCycle)

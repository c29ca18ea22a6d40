from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing"

    def ready(self) -> None:
        # automation registers the run's steps; tasks registers the tasks that services enqueue by name.
        from billing import automation, tasks  # noqa: F401

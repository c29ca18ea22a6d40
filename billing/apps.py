from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing"

    def ready(self) -> None:
        from django.urls import register_converter

        from billing import automation  # noqa: F401 - registers the run's steps
        from core.inputs import IdConverter

        # <id:...> in every URL that takes a database id: before any URLconf is read, which happens after ready().
        register_converter(IdConverter, "id")

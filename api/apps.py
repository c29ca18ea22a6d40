from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = "API"

    def ready(self) -> None:
        # The authentication's OpenAPI extension, and the run's step.
        from api import automation, schema  # noqa: F401

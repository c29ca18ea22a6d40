from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from django.urls import register_converter

        from core.inputs import IdConverter
        from core.lookups import register

        # The `__any` lookup on every field, before any query is built.
        register()
        # <id:...> in every URL that takes a database id: before any URLconf is read, which happens after ready().
        register_converter(IdConverter, "id")

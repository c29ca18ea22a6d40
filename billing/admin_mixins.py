"""Admin building blocks of the apps above billing: saving only what changed, and sidebar filters that stay fast
on tables with millions of rows (a text box instead of a list that loads a whole table). The bounded paginator
every growing list uses is in notifications.admin_lists, the bottom layer, so that every app's admin can use it."""

from __future__ import annotations

from django.contrib import admin
from django.db import models


class SaveChangedFieldsOnly(admin.ModelAdmin):
    """Saving an existing row writes only the fields the admin changed in the form.

    A plain save() writes every column, so an admin who opened the page before a service changed the row
    (an order cancelled, a payment recorded) would write the old status back over the new one.
    """

    # Fields a service function writes instead (it locks the row, keeps what depends on them and logs the
    # change): saved by `save_through_services` after the others.
    saved_through_services: tuple[str, ...] = ()

    def save_model(self, request, obj, form, change) -> None:
        if not change:
            super().save_model(request, obj, form, change)
            return
        concrete = {
            field.name
            for field in obj._meta.get_fields()
            if isinstance(field, models.Field) and field.concrete and not field.many_to_many
        }
        plain = [name for name in form.changed_data if name in concrete and name not in self.saved_through_services]
        if plain:
            obj.save(update_fields=plain)
        changed = [name for name in self.saved_through_services if name in form.changed_data]
        if changed:
            self.save_through_services(request, obj, form, changed)

    def save_through_services(self, request, obj, form, changed: list[str]) -> None:
        raise NotImplementedError(f"{type(self).__name__} names saved_through_services but does not save them")


class InputFilter(admin.ListFilter):
    """A sidebar filter with a text box instead of a list of links, for a column with too many values to list
    (a client among 100k). Subclasses set `title`, `parameter_name` and `lookup`, and may override `clean`."""

    template = "admin/billing/input_filter.html"
    parameter_name: str
    lookup: str
    placeholder = ""

    def __init__(self, request, params, model, model_admin):
        super().__init__(request, params, model, model_admin)
        self.value = ""
        if self.parameter_name in params:
            values = params.pop(self.parameter_name)
            self.value = (values[-1] if isinstance(values, list) else values).strip()
            self.used_parameters[self.parameter_name] = self.value

    def has_output(self) -> bool:
        return True

    def expected_parameters(self) -> list[str]:
        return [self.parameter_name]

    def clean(self, value: str):
        """The value to filter with, or None when the input cannot match anything."""
        return value

    def describe(self, cleaned) -> str:
        """A line under the box saying what the list is filtered by."""
        return ""

    def queryset(self, request, queryset):
        if not self.value:
            return queryset
        cleaned = self.clean(self.value)
        if cleaned is None:
            return queryset.none()
        return queryset.filter(**{self.lookup: cleaned})

    def choices(self, changelist):
        cleaned = self.clean(self.value) if self.value else None
        yield {
            "parameter_name": self.parameter_name,
            "value": self.value,
            "placeholder": self.placeholder,
            "hidden_params": [
                (name, value) for name, value in changelist.params.items() if name not in (self.parameter_name, "p")
            ],
            "reset_query_string": changelist.get_query_string(remove=[self.parameter_name]),
            "description": (self.describe(cleaned) if cleaned is not None else "No match.") if self.value else "",
        }


class PositiveIdFilter(InputFilter):
    """An InputFilter on an id column: anything that is not a positive whole number matches nothing. With
    `target` (the model the id names) the line under the box names the row, or says there is none."""

    target = None

    def clean(self, value: str):
        value = value.lstrip("#")
        return int(value) if value.isdigit() and int(value) > 0 else None

    def describe(self, cleaned: int) -> str:
        if self.target is None:
            return ""
        row = self.target.objects.filter(pk=cleaned).first()
        return str(row) if row else f"No {self.target._meta.verbose_name} #{cleaned}."

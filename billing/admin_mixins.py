from django.contrib import admin
from django.db import models


class SaveChangedFieldsOnly(admin.ModelAdmin):
    """Saving an existing row writes only the fields the admin changed in the form.

    A plain save() writes every column, so an admin who opened the page before a service changed the row
    (an order cancelled, a payment recorded) would write the old status back over the new one.
    """

    def save_model(self, request, obj, form, change) -> None:
        if not change:
            super().save_model(request, obj, form, change)
            return
        concrete = {
            field.name
            for field in obj._meta.get_fields()
            if isinstance(field, models.Field) and field.concrete and not field.many_to_many
        }
        obj.save(update_fields=[name for name in form.changed_data if name in concrete])

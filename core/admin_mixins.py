"""Admin building blocks: saving only what changed, and a service's refusal at save time shown as a message.
What keeps list pages fast on tables with millions of rows (the bounded paginator, text-box filters) is in
core.admin_lists, so that every app's admin can use it."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import models
from django.http import HttpResponseRedirect


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


class RefusalsAsMessages(admin.ModelAdmin):
    """A save that the service refuses only when it saves (the form's own check passed, then a payment or another
    admin changed the row before the service locked it) shows the service's reason and writes nothing.

    Django runs the change form and the list's editable columns in a transaction; the refusal leaves it before it
    commits, so whatever the save had written (a client made just before its update was refused) is rolled back.
    Without this the refusal would be an error page.
    """

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ValidationError as refused:
            return self._refused(request, refused)

    def changelist_view(self, request, extra_context=None):
        try:
            return super().changelist_view(request, extra_context)
        except ValidationError as refused:
            return self._refused(request, refused)

    def _refused(self, request, refused: ValidationError) -> HttpResponseRedirect:
        self.message_user(request, f"Nothing was saved: {' '.join(refused.messages)}", messages.ERROR)
        return HttpResponseRedirect(request.get_full_path())

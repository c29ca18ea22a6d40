from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from billing.admin_mixins import SaveChangedFieldsOnly
from provisioning.models import CancellationRequest, Domain, Server, ServerGroup, Service
from provisioning.services import cancellation_refusal, cancellation_request, due_date_move


@admin.register(ServerGroup)
class ServerGroupAdmin(admin.ModelAdmin):
    list_display = ("name", "fill_type")


@admin.register(Server)
class ServerAdmin(SaveChangedFieldsOnly):
    list_display = ("name", "hostname", "ip_address", "module", "max_accounts", "is_active")
    filter_horizontal = ("groups",)


class MovesDueDates(SaveChangedFieldsOnly):
    """A due date an admin changes goes through due_date_move: the billing day follows it, and the move is in
    the activity log with who made it."""

    saved_through_services = ("next_due_date",)

    def save_through_services(self, request, obj, form, changed: list[str]) -> None:
        due_date_move(type(obj), pk=obj.pk, to=form.cleaned_data["next_due_date"], actor=request.user)


@admin.register(Service)
class ServiceAdmin(MovesDueDates):
    list_display = ("__str__", "client", "billing_cycle", "recurring_amount", "currency", "next_due_date", "status")
    list_filter = ("status", "billing_cycle", "auto_setup")
    list_select_related = ("client", "product", "currency")
    search_fields = ("domain", "username", "client__contact_name", "client__email")
    readonly_fields = (
        "client",
        "order",
        "product",
        "currency",
        "status",
        "suspension_reason",
        "termination_date",
        "created_at",
        "auto_setup",
        "billing_day",
    )
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # services and domains go with their order (cancel, then delete), never on their own


@admin.register(Domain)
class DomainAdmin(MovesDueDates):
    list_display = ("name", "client", "registration_type", "registration_period", "expiry_date", "status")
    list_filter = ("status", "registration_type")
    list_select_related = ("client",)
    search_fields = ("name", "client__contact_name", "client__email")
    readonly_fields = ("client", "order", "product", "currency", "status", "created_at", "billing_day")
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # services and domains go with their order (cancel, then delete), never on their own


class CancellationRequestForm(forms.ModelForm):
    class Meta:
        model = CancellationRequest
        fields = ("service", "when", "reason")

    def clean(self):
        cleaned = super().clean()
        service = cleaned.get("service")
        refusal = cancellation_refusal(service) if service is not None else None
        if refusal:
            raise ValidationError(refusal)
        return cleaned


@admin.register(CancellationRequest)
class CancellationRequestAdmin(admin.ModelAdmin):
    """Requests are added here (or by clients); the automation run carries them out."""

    form = CancellationRequestForm
    list_display = ("service", "when", "status", "requested_at", "requested_by", "done_on")
    list_filter = ("status", "when")
    list_select_related = ("service__product",)
    raw_id_fields = ("service",)
    show_full_result_count = False

    def get_readonly_fields(self, request, obj=None):
        return ("service", "when", "reason", "status", "requested_at", "requested_by", "done_on") if obj else ()

    def save_model(self, request, obj, form, change) -> None:
        if change:
            return  # a request is not edited: it is carried out by the run
        created = cancellation_request(service_id=obj.service_id, when=obj.when, reason=obj.reason, actor=request.user)
        obj.pk = created.pk

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

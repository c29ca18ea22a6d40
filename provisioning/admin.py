from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError

from core.admin_lists import LargeTableAdmin
from core.admin_mixins import RefusalsAsMessages
from provisioning.admin_domain_actions import DomainRegistrarActions
from provisioning.admin_service_actions import ServiceModuleActions
from provisioning.models import CancellationRequest, Domain, Service
from provisioning.module_forms import module_choices
from provisioning.services import (
    cancellation_refusal,
    cancellation_request,
    cancellation_withdraw,
    domain_update,
    item_changes_validate,
    service_update,
)
from provisioning.wording import cancellation_refusal_words


class BillingDatesForm(forms.ModelForm):
    """The next due date carries the value the page showed (a hidden initial field): a save only moves it if
    the admin changed it, and not over a date a payment moved while the page was open."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if "next_due_date" in self.fields:
            self.fields["next_due_date"].show_hidden_initial = True

    def due_date_seen(self):
        field, name = self.fields["next_due_date"], self["next_due_date"].html_initial_name
        shown = field.hidden_widget().value_from_datadict(self.data, self.files, name)
        try:
            return field.to_python(shown)
        except ValidationError:
            return None

    def clean(self):
        cleaned = super().clean()
        moved = self.instance.pk and "next_due_date" in self.changed_data
        if moved and self.due_date_seen() != self.instance.next_due_date:
            self.add_error(
                "next_due_date",
                f"The next due date was changed to {self.instance.next_due_date or 'none'} while this page was "
                "open (a payment, or another admin). Reload the page to see it, and move it again if you still "
                "want to.",
            )
        return cleaned


class ItemForm(BillingDatesForm):
    """An admin's changes are checked by the service that saves them (item_changes_validate): a refusal shows on
    the field it concerns, and nothing is saved."""

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk:
            changes = {name: cleaned[name] for name in self.changed_data if name in cleaned}
            try:
                cleaned.update(item_changes_validate(self.instance, changes))
            except ValidationError as refused:
                self.add_error(None, refused)  # keyed by field
        return cleaned


class EditsThroughServices(RefusalsAsMessages, LargeTableAdmin):
    """A save goes through the item's *_update service: it locks the row, checks the changes again, moves the
    billing day with a moved due date (billing_dates_set) and logs who changed what. Only changed fields are
    sent, so a save never writes back a value another admin or a payment changed while the page was open."""

    form = ItemForm

    def item_update(self, *, pk: int, actor, **changes) -> None:
        raise NotImplementedError

    def save_model(self, request, obj, form, change) -> None:
        if not change:
            raise PermissionDenied  # services and domains are made by checkout
        changes = {name: form.cleaned_data[name] for name in form.changed_data if name in form.cleaned_data}
        if not changes:
            return
        if "next_due_date" in changes:
            changes["due_date_seen"] = form.due_date_seen()
        # A refusal here (a payment or another admin got there after the form's check) is RefusalsAsMessages'.
        self.item_update(pk=obj.pk, actor=request.user, **changes)


class ServiceItemForm(ItemForm):
    """A service's module is chosen from the installed ones (the registry), as a product's is: a stored name no
    installed module has stays selectable, marked, so saving another field does not lose it."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if "module" in self.fields:
            current = self.instance.module if self.instance.pk else ""
            self.fields["module"] = forms.ChoiceField(
                choices=module_choices(current),
                required=False,
                label="Module",
                help_text="The provisioning module that acts on this service's account (from the product when it "
                "was ordered).",
            )


@admin.register(Service)
class ServiceAdmin(ServiceModuleActions, EditsThroughServices):
    form = ServiceItemForm
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

    change_form_template = "admin/provisioning/service/change_form.html"

    def item_update(self, *, pk: int, actor, **changes) -> None:
        service_update(service_id=pk, actor=actor, **changes)

    def get_urls(self):
        return self.service_action_urls() + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        service = self.get_object(request, object_id)
        if service is not None and self.has_view_or_change_permission(request, service):
            extra_context["service_buttons"] = self.service_buttons(request, service)
            extra_context.update(self.service_panels(request, service))
        return super().change_view(request, object_id, form_url, extra_context)

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # services and domains go with their order (cancel, then delete), never on their own


@admin.register(Domain)
class DomainAdmin(DomainRegistrarActions, EditsThroughServices):
    list_display = ("name", "client", "registration_type", "registration_period", "expiry_date", "status")
    list_filter = ("status", "registration_type")
    list_select_related = ("client",)
    search_fields = ("name", "client__contact_name", "client__email")
    # What the registrar holds (nameservers, lock) changes only through a registrar call, never by an edit here.
    readonly_fields = (
        "client",
        "order",
        "product",
        "currency",
        "status",
        "created_at",
        "billing_day",
        "nameservers",
        "transfer_lock",
        "auto_renew",
        "availability_at_checkout",
    )

    change_form_template = "admin/provisioning/domain/change_form.html"

    def item_update(self, *, pk: int, actor, **changes) -> None:
        domain_update(domain_id=pk, actor=actor, **changes)

    def get_urls(self):
        return self.domain_action_urls() + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        domain = self.get_object(request, object_id)
        if domain is not None and self.has_view_or_change_permission(request, domain):
            extra_context["domain_buttons"] = self.domain_buttons(request, domain)
            extra_context.update(self.domain_panels(domain))
        return super().change_view(request, object_id, form_url, extra_context)

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
            raise ValidationError(cancellation_refusal_words(service, refusal), code=refusal.value)
        return cleaned


@admin.register(CancellationRequest)
class CancellationRequestAdmin(LargeTableAdmin):
    """Requests are added here (or by clients); the automation run carries them out."""

    form = CancellationRequestForm
    list_display = ("service", "when", "status", "requested_at", "requested_by", "done_on")
    list_filter = ("status", "when")
    list_select_related = ("service__product",)
    raw_id_fields = ("service",)

    actions = ["withdraw"]

    def get_readonly_fields(self, request, obj=None):
        return ("service", "when", "reason", "status", "requested_at", "requested_by", "done_on") if obj else ()

    @admin.action(description="Withdraw the selected open requests (the services carry on)", permissions=["change"])
    def withdraw(self, request, queryset) -> None:
        for pk in queryset.order_by("pk").values_list("pk", flat=True):
            try:
                withdrawn = cancellation_withdraw(request_id=pk, actor=request.user)
            except ValidationError as refused:
                self.message_user(request, " ".join(refused.messages), messages.ERROR)
            else:
                self.message_user(request, f"Cancellation of {withdrawn.service} withdrawn.", messages.SUCCESS)

    def save_model(self, request, obj, form, change) -> None:
        if change:
            return  # a request is not edited: it is carried out by the run
        created = cancellation_request(service_id=obj.service_id, when=obj.when, reason=obj.reason, actor=request.user)
        obj.pk = created.pk

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


from provisioning import admin_domains, admin_polls, admin_queue, admin_servers  # noqa: E402,F401 - servers, queue, TLDs, polls

"""The module actions on the service's admin page: suspend (abuse or admin), unsuspend, terminate, change package,
change password, and revealing the account's password. Each is offered only when the FSM allows it from the
service's state and the admin holds its permission; each is a confirmation page whose POST (with CSRF) calls one
service of provisioning.services.module_actions. A refusal is a message and changes nothing. Change package and
change password carry a one-time nonce in the form, so a double submit is one module call. The page also shows
the credentials (masked), the account details, the module log, the usage and why a Pending service waits."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django_fsm import can_proceed

from provisioning.models import ModuleCall, Service, ServiceUsage
from provisioning.module_forms import ModuleSettingsForm
from provisioning.modules import registry
from provisioning.modules.base import Action
from provisioning.queue.requests import new_nonce
from provisioning.services.module_actions import (
    ADMIN_SUSPENSION_REASONS,
    PASSWORD_MAX_LENGTH,
    PASSWORD_MIN_LENGTH,
    password_check,
    service_package_change,
    service_password_change,
    service_password_reveal,
    service_suspend,
    service_terminate,
    service_unsuspend,
)

MODULE_LOG_ROWS = 20
USAGE_ROWS = 10
_NONCE = re.compile(r"^[0-9a-f]{32}$")


class NonceField(forms.CharField):
    widget = forms.HiddenInput

    def __init__(self, **kwargs):
        super().__init__(max_length=32, **kwargs)

    def validate(self, value):
        super().validate(value)
        if not _NONCE.fullmatch(value or ""):
            raise ValidationError("This form has expired: open it again.")


class SuspendForm(forms.Form):
    reason = forms.ChoiceField(
        choices=[(reason.value, reason.label) for reason in ADMIN_SUSPENSION_REASONS],
        widget=forms.RadioSelect,
        label="Why",
        help_text="A payment never lifts these suspensions: an admin unsuspends.",
    )


class PackageForm(ModuleSettingsForm):
    nonce = NonceField()


class PasswordForm(forms.Form):
    nonce = NonceField()
    password = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        label="New password",
        help_text=f"Blank: one is generated. Otherwise {PASSWORD_MIN_LENGTH} to {PASSWORD_MAX_LENGTH} characters, "
        "no spaces. It is shown once, here, after the change is asked for.",
    )

    def clean_password(self) -> str:
        password = self.cleaned_data.get("password") or ""
        return password_check(password) if password else ""


@dataclass(frozen=True)
class ServiceButton:
    slug: str
    label: str
    permission: str  # codename on provisioning.Service
    question: str

    def allowed(self, service: Service) -> bool:
        status = service.status
        if self.slug == "suspend":
            return can_proceed(service.suspend)
        if self.slug == "unsuspend":
            return can_proceed(service.unsuspend)
        if self.slug == "terminate":
            return can_proceed(service.terminate)
        if self.slug == "change_package":
            return status in (Service.Status.ACTIVE, Service.Status.SUSPENDED) and bool(service.module)
        if self.slug == "change_password":
            return status == Service.Status.ACTIVE and bool(service.module)
        if self.slug == "reveal":
            return bool(service.password_token)
        return False


BUTTONS = {
    button.slug: button
    for button in (
        ServiceButton(
            "suspend", "Suspend", "suspend_service", "Suspend this service? Its module suspends the account."
        ),
        ServiceButton(
            "unsuspend", "Unsuspend", "unsuspend_service", "Unsuspend this service? Its module lifts the suspension."
        ),
        ServiceButton(
            "terminate",
            "Terminate",
            "terminate_service",
            "Terminate this service? Its module removes the account from the server, with its data.",
        ),
        ServiceButton(
            "change_package",
            "Change package",
            "change_package_service",
            "The module's settings for this service. The service keeps them when the module's change succeeds.",
        ),
        ServiceButton(
            "change_password",
            "Change password",
            "change_password_service",
            "A new password for the account on the server.",
        ),
        ServiceButton(
            "reveal",
            "Reveal password",
            "reveal_password_service",
            "Show the account's password? Each reveal is written to the activity log with your name.",
        ),
    )
}


def _perm(button: ServiceButton) -> str:
    return f"provisioning.{button.permission}"


def _calls_words(call: ModuleCall | None, done: str) -> str:
    if call is None:
        return f"{done} The service has no module: nothing was asked of a server."
    return f"{done} Module call #{call.pk} ({call.action.replace('_', ' ')}) is {call.get_status_display().lower()}."


class ServiceModuleActions:
    """Mixed into ServiceAdmin (a ModelAdmin)."""

    def service_buttons(self, request: HttpRequest, service: Service) -> list[dict[str, str]]:
        return [
            {
                "slug": slug,
                "label": button.label,
                "url": reverse("admin:provisioning_service_action", args=[service.pk, slug]),
            }
            for slug, button in BUTTONS.items()
            if slug != "reveal" and request.user.has_perm(_perm(button)) and button.allowed(service)
        ]

    def service_panels(self, request: HttpRequest, service: Service) -> dict[str, Any]:
        calls = list(
            ModuleCall.objects.filter(service=service).select_related("server").order_by("-pk")[:MODULE_LOG_ROWS]
        )
        waiting = None
        if service.status == Service.Status.PENDING:
            waiting = ModuleCall.objects.filter(service=service, action=Action.CREATE.value).order_by("-pk").first()
        reveal = BUTTONS["reveal"]
        return {
            "service_credentials": {
                "username": service.username,
                "has_password": bool(service.password_token),
                "reveal_url": reverse("admin:provisioning_service_action", args=[service.pk, "reveal"])
                if request.user.has_perm(_perm(reveal)) and reveal.allowed(service)
                else "",
            },
            "service_account": sorted((service.account or {}).items()),
            "module_calls": [
                {"call": call, "url": reverse("admin:provisioning_modulecall_change", args=[call.pk])} for call in calls
            ],
            "module_calls_more": ModuleCall.objects.filter(service=service).count() > MODULE_LOG_ROWS
            if len(calls) == MODULE_LOG_ROWS
            else False,
            "module_calls_url": reverse("admin:provisioning_modulecall_changelist") + f"?service={service.pk}",
            "usage_rows": list(ServiceUsage.objects.filter(service=service).order_by("-recorded_on")[:USAGE_ROWS]),
            "pending_call": waiting,
        }

    def service_action_urls(self):
        return [
            path(
                "<id:service_id>/module/<slug:action>/",
                self.admin_site.admin_view(self.service_action_view),
                name="provisioning_service_action",
            )
        ]

    def service_action_view(self, request: HttpRequest, service_id: int, action: str) -> HttpResponse:
        button = BUTTONS.get(action)
        if button is None:
            raise Http404
        service = get_object_or_404(Service.objects.select_related("product", "client"), pk=service_id)
        if not request.user.has_perm(_perm(button)):
            raise PermissionDenied
        back = reverse("admin:provisioning_service_change", args=[service.pk])
        if not button.allowed(service):
            self.message_user(
                request,
                f"{service} is {service.get_status_display()}: {button.label.lower()} is not possible.",
                messages.WARNING,
            )
            return HttpResponseRedirect(back)
        posted = request.POST if request.method == "POST" else None
        form = self._action_form(button, service, posted)
        shown_password = ""
        if posted is not None and (form is None or form.is_valid()):
            try:
                outcome = self._perform(request, button, service, form)
            except ValidationError as refused:
                self.message_user(request, f"Nothing was done: {' '.join(refused.messages)}", messages.ERROR)
                return HttpResponseRedirect(back)
            if isinstance(outcome, str):
                self.message_user(request, outcome, messages.SUCCESS)
                return HttpResponseRedirect(back)
            shown_password, text = outcome
            self.message_user(request, text, messages.SUCCESS if shown_password else messages.WARNING)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": service,
            "title": f"{button.label}: {service}",
            "question": button.question,
            "form": form,
            "button_label": button.label,
            "back_url": back,
            "shown_password": shown_password,
            "done": posted is not None and (form is None or form.is_valid()),
        }
        return TemplateResponse(request, "admin/provisioning/service/module_action.html", context)

    def _action_form(self, button: ServiceButton, service: Service, posted):
        if button.slug == "suspend":
            return SuspendForm(posted)
        if button.slug == "change_package":
            module_class = registry.module_class(service.module)
            declared = module_class.product_settings if module_class else ()
            return PackageForm(
                posted, declared=declared, stored=service.module_settings, initial={"nonce": new_nonce()}
            )
        if button.slug == "change_password":
            return PasswordForm(posted, initial={"nonce": new_nonce()})
        return None

    def _perform(self, request, button: ServiceButton, service: Service, form):
        """A message (redirect to the service) or (password shown once, message) for the page itself."""
        actor = request.user
        if button.slug == "suspend":
            call = service_suspend(service_id=service.pk, reason=form.cleaned_data["reason"], actor=actor)
            return _calls_words(call, f"{service} suspended.")
        if button.slug == "unsuspend":
            return _calls_words(service_unsuspend(service_id=service.pk, actor=actor), f"{service} unsuspended.")
        if button.slug == "terminate":
            return _calls_words(service_terminate(service_id=service.pk, actor=actor), f"{service} terminated.")
        if button.slug == "change_package":
            call = service_package_change(
                service_id=service.pk, settings=form.cleaned_settings, actor=actor, nonce=form.cleaned_data["nonce"]
            )
            return _calls_words(call, "The package change was asked for.")
        if button.slug == "change_password":
            change = service_password_change(
                service_id=service.pk,
                actor=actor,
                nonce=form.cleaned_data["nonce"],
                password=form.cleaned_data.get("password") or "",
            )
            if not change.password:
                return "", _calls_words(change.call, "This change was asked for already; its password was shown then.")
            return change.password, _calls_words(change.call, "The new password was asked for.")
        if button.slug == "reveal":
            return service_password_reveal(service_id=service.pk, actor=actor), (
                "Password revealed; this is in the activity log."
            )
        raise Http404

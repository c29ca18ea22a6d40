"""The admin's domain page: every registrar action the domain's status and registrar allow (each behind its
permission and on a page of its own, POST with a one-time nonce), the registrar log (its calls in the module
queue) and its to-dos. Everything goes through provisioning.services.domain_changes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse

from core.inputs import PlainTextField
from provisioning.admin_service_actions import NonceField
from provisioning.models import Domain, ModuleCall, ModuleTodo
from provisioning.queue.actions import TAKES_EPP_CODE, CodeKept, domain_epp_code_replace
from provisioning.queue.requests import new_nonce
from provisioning.registrars.base import RegistrarAction
from provisioning.services.domain_changes import admin_action_possible, domain_registrar_ask
from provisioning.services.domains import EPP_CODE_MAX, domain_epp_code_reveal

LOG_ROWS = 20


@dataclass(frozen=True)
class DomainButton:
    action: RegistrarAction
    label: str
    permission: str  # codename on provisioning.Domain
    question: str


BUTTONS = {
    button.action.value: button
    for button in (
        DomainButton(RegistrarAction.REGISTER, "Register", "registrar_change_domain", "Register this domain now?"),
        DomainButton(RegistrarAction.TRANSFER, "Transfer in", "registrar_change_domain", "Request the transfer now?"),
        DomainButton(RegistrarAction.RENEW, "Renew", "registrar_change_domain", "Renew at the registrar for:"),
        DomainButton(
            RegistrarAction.SYNC, "Sync", "registrar_read_domain", "Ask the registrar for its expiry date and status?"
        ),
        DomainButton(
            RegistrarAction.TRANSFER_SYNC, "Follow transfer", "registrar_read_domain", "Ask how the transfer stands?"
        ),
        DomainButton(
            RegistrarAction.GET_NAMESERVERS,
            "Read nameservers",
            "registrar_read_domain",
            "Read the nameservers the registrar holds?",
        ),
        DomainButton(
            RegistrarAction.SAVE_NAMESERVERS,
            "Save nameservers",
            "registrar_change_domain",
            "The nameservers, one per line:",
        ),
        DomainButton(
            RegistrarAction.GET_LOCK,
            "Read lock",
            "registrar_read_domain",
            "Read the transfer lock the registrar holds?",
        ),
        DomainButton(RegistrarAction.SAVE_LOCK, "Set lock", "registrar_change_domain", "Set the transfer lock:"),
        DomainButton(
            RegistrarAction.GET_EPP_CODE,
            "Email EPP code",
            "epp_code_domain",
            "Email the EPP code to the domain's owner? It is shown nowhere.",
        ),
        DomainButton(
            RegistrarAction.SAVE_CONTACTS,
            "Save contacts",
            "registrar_change_domain",
            "Send the owner's current details as the registrant contact?",
        ),
    )
}


class AskForm(forms.Form):
    nonce = NonceField()


class RenewForm(AskForm):
    years = forms.TypedChoiceField(coerce=int, choices=[(n, f"{n} year{'s' if n > 1 else ''}") for n in range(1, 11)])


class NameserversForm(AskForm):
    nameservers = PlainTextField(multiline=True, max_length=4000, widget=forms.Textarea(attrs={"rows": 5}))


class LockForm(AskForm):
    locked = forms.BooleanField(required=False, label="Locked (no transfer away)")


class EppCodeForm(forms.Form):
    epp_code = forms.CharField(
        label="New EPP code",
        strip=False,
        max_length=EPP_CODE_MAX,
        help_text="Kept encrypted, in place of the one given before, and used for the transfer.",
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
    )


ADMIN_CODE_KEPT_WORDS = {
    CodeKept.RETRIED: "The new EPP code is kept, and the refused transfer call is asked again with it.",
    CodeKept.FOR_SENDING: "The new EPP code is kept; it is used when the transfer is sent (Transfer in, or on accept).",
    CodeKept.ON_ITS_WAY: "The new EPP code is kept; the transfer already with the registry goes on as it is.",
    CodeKept.FOR_AN_ADMIN: "The new EPP code is kept. The transfer call failed for another reason (or new codes "
    "retried it too often today): retry it from the module queue when it may go.",
    CodeKept.SAME_AS_REFUSED: "That is the EPP code the registry refused: nothing was asked.",
}


def _takes_epp_code(domain: Domain) -> bool:
    return domain.registration_type == Domain.RegistrationType.TRANSFER and domain.status in TAKES_EPP_CODE


def _perm(button: DomainButton) -> str:
    return f"provisioning.{button.permission}"


class DomainRegistrarActions:
    """Mixed into DomainAdmin (a ModelAdmin)."""

    def domain_buttons(self, request: HttpRequest, domain: Domain) -> list[dict[str, str]]:
        return [
            {
                "slug": slug,
                "label": button.label,
                "url": reverse("admin:provisioning_domain_action", args=[domain.pk, slug]),
            }
            for slug, button in BUTTONS.items()
            if request.user.has_perm(_perm(button)) and admin_action_possible(domain, button.action)
        ] + [
            {"slug": slug, "label": label, "url": reverse("admin:provisioning_domain_epp_code", args=[domain.pk, slug])}
            for slug, label, permission, shown in (
                ("replace", "New EPP code", "registrar_change_domain", _takes_epp_code(domain)),
                (
                    "reveal",
                    "Show EPP code",
                    "reveal_epp_code_domain",
                    _takes_epp_code(domain) and bool(domain.epp_code_token),
                ),
            )
            if shown and request.user.has_perm(f"provisioning.{permission}")
        ]

    def domain_panels(self, domain: Domain) -> dict[str, Any]:
        calls = list(ModuleCall.objects.filter(domain=domain).order_by("-pk")[:LOG_ROWS])
        return {
            "registrar_calls": [
                {"call": call, "url": reverse("admin:provisioning_modulecall_change", args=[call.pk])} for call in calls
            ],
            "registrar_todos": list(ModuleTodo.objects.filter(domain=domain).order_by("done_at", "-pk")[:LOG_ROWS]),
            "todos_url": reverse("admin:provisioning_moduletodo_changelist"),
        }

    def domain_action_urls(self):
        return [
            path(
                "<id:domain_id>/registrar/<slug:action>/",
                self.admin_site.admin_view(self.domain_action_view),
                name="provisioning_domain_action",
            ),
            path(
                "<id:domain_id>/epp-code/<slug:what>/",
                self.admin_site.admin_view(self.domain_epp_code_view),
                name="provisioning_domain_epp_code",
            ),
        ]

    def domain_epp_code_view(self, request: HttpRequest, domain_id: int, what: str) -> HttpResponse:
        """A transfer in's EPP code: replaced (a wrong one retries the refused transfer call), or shown once to an
        admin who transfers the domain by hand (logged)."""
        permission = {"replace": "registrar_change_domain", "reveal": "reveal_epp_code_domain"}.get(what)
        if permission is None:
            raise Http404
        domain = get_object_or_404(Domain, pk=domain_id)
        if not request.user.has_perm(f"provisioning.{permission}"):
            raise PermissionDenied
        back = reverse("admin:provisioning_domain_change", args=[domain.pk])
        form = EppCodeForm(request.POST if request.method == "POST" else None) if what == "replace" else None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": domain,
            "form": form,
            "back_url": back,
            "done": False,
        }
        if what == "reveal":
            context.update(
                title=f"Show EPP code: {domain}",
                question="Show the EPP code the client gave for this transfer? The reveal is written to the "
                "activity log with your name.",
                button_label="Show EPP code",
            )
            if request.method == "POST":
                try:
                    code = domain_epp_code_reveal(domain_id=domain.pk, actor=request.user)
                except ValidationError as refused:
                    self.message_user(request, " ".join(refused.messages), messages.ERROR)
                    return HttpResponseRedirect(back)
                context.update(done=True, shown_password=code, shown_label=f"EPP code of {domain}, shown this once:")
            return TemplateResponse(request, "admin/provisioning/service/module_action.html", context)
        context.update(
            title=f"New EPP code: {domain}",
            question="The EPP code for this transfer in:",
            button_label="Save EPP code",
        )
        if form is not None and form.is_valid():
            try:
                kept = domain_epp_code_replace(
                    domain_id=domain.pk, code=form.cleaned_data["epp_code"], actor=request.user
                )
            except ValidationError as refused:
                form.add_error("epp_code", refused)
            else:
                words = ADMIN_CODE_KEPT_WORDS[kept]
                self.message_user(
                    request, words, messages.WARNING if kept is CodeKept.SAME_AS_REFUSED else messages.SUCCESS
                )
                return HttpResponseRedirect(back)
        return TemplateResponse(request, "admin/provisioning/service/module_action.html", context)

    def _form(self, button: DomainButton, domain: Domain, posted):
        initial = {"nonce": new_nonce()}
        if button.action is RegistrarAction.RENEW:
            return RenewForm(posted, initial={**initial, "years": 1})
        if button.action is RegistrarAction.SAVE_NAMESERVERS:
            return NameserversForm(posted, initial={**initial, "nameservers": "\n".join(domain.nameservers or [])})
        if button.action is RegistrarAction.SAVE_LOCK:
            return LockForm(posted, initial={**initial, "locked": domain.transfer_lock})
        return AskForm(posted, initial=initial)

    def _params(self, button: DomainButton, domain: Domain, data: dict) -> dict:
        if button.action is RegistrarAction.RENEW:
            return {"years": data["years"]}
        if button.action is RegistrarAction.SAVE_NAMESERVERS:
            return {"nameservers": data["nameservers"].splitlines()}
        if button.action is RegistrarAction.SAVE_LOCK:
            return {"locked": data["locked"]}
        if button.action is RegistrarAction.SAVE_CONTACTS:
            client = domain.client
            return {
                "registrant": {
                    "name": client.contact_name,
                    "organisation": client.company_name,
                    "email": client.email,
                    "phone": client.phone,
                    "street": client.address_1,
                    "city": client.city,
                    "state": client.state,
                    "postcode": client.postcode,
                    "country": str(client.country or ""),
                }
            }
        return {}

    def domain_action_view(self, request: HttpRequest, domain_id: int, action: str) -> HttpResponse:
        button = BUTTONS.get(action)
        if button is None:
            raise Http404
        domain = get_object_or_404(Domain.objects.select_related("client"), pk=domain_id)
        if not request.user.has_perm(_perm(button)):
            raise PermissionDenied
        back = reverse("admin:provisioning_domain_change", args=[domain.pk])
        if not admin_action_possible(domain, button.action):
            self.message_user(
                request,
                f"{domain} is {domain.get_status_display()}: {button.label.lower()} is not possible with its registrar "
                f"({domain.registrar or 'none'}).",
                messages.WARNING,
            )
            return HttpResponseRedirect(back)
        posted = request.POST if request.method == "POST" else None
        form = self._form(button, domain, posted)
        if posted is not None and form.is_valid():
            try:
                asked = domain_registrar_ask(
                    domain_id=domain.pk,
                    action=button.action,
                    actor=request.user,
                    nonce=form.cleaned_data["nonce"],
                    params=self._params(button, domain, form.cleaned_data),
                )
            except ValidationError as refused:
                self.message_user(request, f"Nothing was asked: {' '.join(refused.messages)}", messages.ERROR)
                return HttpResponseRedirect(back)
            call = asked.call
            call.refresh_from_db(fields=["status"])  # it may have run already
            words = "asked of the registrar" if asked.created else "was asked before"
            self.message_user(
                request,
                f"{button.label} {words}: registrar call #{call.pk} is {call.get_status_display().lower()}.",
                messages.SUCCESS if asked.created else messages.INFO,
            )
            return HttpResponseRedirect(back)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": domain,
            "title": f"{button.label}: {domain}",
            "question": button.question,
            "form": form,
            "button_label": button.label,
            "back_url": back,
            "done": False,
        }
        return TemplateResponse(request, "admin/provisioning/service/module_action.html", context)

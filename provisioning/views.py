"""Client area: services and domains, always looked up through the logged-in client (404 for anyone else's)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from core.requests import client_of
from provisioning.client_service import password_reset_possible, service_page
from provisioning.clientarea_forms import AutoRenewForm, DomainChangeForm, EppCodeForm, PasswordResetForm
from provisioning.forms import CancellationRequestForm
from provisioning.models import CancellationRequest, Domain, ModuleCall
from provisioning.queue.actions import TAKES_EPP_CODE, CodeKept, domain_epp_code_replace
from provisioning.queue.requests import new_nonce
from provisioning.selectors import cancellation_buttons, client_domains, client_services
from provisioning.services import cancellation_request, cancellation_withdraw, domain_auto_renew_set
from provisioning.services.domain_changes import (
    CHANGE_WORDS,
    DomainChange,
    domain_change_request,
    domain_changes_latest,
)
from provisioning.services.module_actions import service_password_change

PER_PAGE = 25


@login_required
def service_list(request: HttpRequest) -> HttpResponse:
    client = client_of(request)
    page = Paginator(client_services(client=client), PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "clientarea/service_list.html", {"client": client, "page": page})


@login_required
def service_detail(request: HttpRequest, service_id: int) -> HttpResponse:
    client = client_of(request)
    service = get_object_or_404(client_services(client=client), pk=service_id)
    buttons = cancellation_buttons(service=service)
    context = {
        "client": client,
        "service": service,
        "cancellation": buttons.open_request,
        "can_cancel": buttons.may_request,
        "can_withdraw": buttons.may_withdraw,
        "when_choices": CancellationRequest.When.choices,
        "page": service_page(service),
        "nonce": new_nonce(),
    }
    return render(request, "clientarea/service_detail.html", context)


@login_required
@require_POST
def service_password_reset(request: HttpRequest, service_id: int) -> HttpResponse:
    """A generated password for the service's account, shown once on the page that answers this POST (never put
    in the session or a URL; the page is private, no-store). The form's nonce makes a double submit one call."""
    client = client_of(request)
    service = get_object_or_404(client_services(client=client), pk=service_id)
    form = PasswordResetForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(form.errors["nonce"]))
        return redirect("clientarea:service_detail", service_id=service.pk)
    if not password_reset_possible(service):
        messages.error(request, "This service does not offer a password reset now.")
        return redirect("clientarea:service_detail", service_id=service.pk)
    try:
        change = service_password_change(
            service_id=service.pk, actor=request.user, nonce=form.cleaned_data["nonce"], client_id=client.pk
        )
    except ValidationError as refused:
        messages.error(request, "; ".join(refused.messages))
        return redirect("clientarea:service_detail", service_id=service.pk)
    # The call as it stands now that its task was sent (it may already have run).
    call = change.call
    call.refresh_from_db(fields=["status"])
    context = {"client": client, "service": service, "password": change.password, "call": call}
    return render(request, "clientarea/service_password.html", context)


@login_required
@require_POST
def service_cancel(request: HttpRequest, service_id: int) -> HttpResponse:
    """The client asks for their service to end, at once or at the end of the period (the run carries it out)."""
    client = client_of(request)
    service = get_object_or_404(client_services(client=client), pk=service_id)
    form = CancellationRequestForm(request.POST)
    if not form.is_valid():
        for field, errors in form.errors.items():
            messages.error(request, f"{field.capitalize()}: {' '.join(errors)}")
        return redirect("clientarea:service_detail", service_id=service.pk)
    try:
        cancellation_request(
            service_id=service.pk,
            when=form.cleaned_data["when"],
            reason=form.cleaned_data["reason"],
            actor=request.user,
        )
    except ValidationError as refused:
        messages.error(request, "; ".join(refused.messages))
    else:
        messages.success(request, "We have your cancellation request.")
    return redirect("clientarea:service_detail", service_id=service.pk)


@login_required
@require_POST
def service_cancel_withdraw(request: HttpRequest, service_id: int) -> HttpResponse:
    """The client takes back their open cancellation request: the service carries on."""
    client = client_of(request)
    service = get_object_or_404(client_services(client=client), pk=service_id)
    open_request = cancellation_buttons(service=service).open_request
    if open_request is None:
        messages.error(request, "This service has no open cancellation request to withdraw.")
        return redirect("clientarea:service_detail", service_id=service.pk)
    try:
        cancellation_withdraw(request_id=open_request.pk, actor=request.user, client_id=client.pk)
    except ValidationError as refused:
        messages.error(request, "; ".join(refused.messages))
    else:
        messages.success(request, "Your cancellation request is withdrawn: the service carries on as before.")
    return redirect("clientarea:service_detail", service_id=service.pk)


@login_required
def domain_list(request: HttpRequest) -> HttpResponse:
    client = client_of(request)
    page = Paginator(client_domains(client=client), PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "clientarea/domain_list.html", {"client": client, "page": page})


@login_required
def domain_detail(request: HttpRequest, domain_id: int) -> HttpResponse:
    client = client_of(request)
    domain = get_object_or_404(client_domains(client=client), pk=domain_id)
    latest = domain_changes_latest(domain)
    changes = [(CHANGE_WORDS[change], call) for change, call in latest.items()]
    context = {
        "client": client,
        "domain": domain,
        "changes": changes,
        "nameserver_lines": "\n".join(domain.nameservers or []),
        "changeable": domain.status == domain.Status.ACTIVE and bool(domain.registrar),
        "nonce": new_nonce(),
    }
    if domain.registration_type == Domain.RegistrationType.TRANSFER and domain.status in TAKES_EPP_CODE:
        context["takes_epp_code"] = True
        context["transfer_call"] = (
            ModuleCall.objects.filter(domain=domain, action="transfer").order_by("-pk").only("status", "result").first()
        )
    return render(request, "clientarea/domain_detail.html", context)


CODE_KEPT_WORDS = {
    CodeKept.RETRIED: "Thank you: the transfer is sent to the registry again with the new EPP code. This page shows "
    "its answer.",
    CodeKept.FOR_SENDING: "Thank you: the EPP code is kept for the transfer, which our team sends to the registry.",
    CodeKept.ON_ITS_WAY: "Thank you: the EPP code is kept. The transfer is with the registry already; the new code is "
    "used if it has to be asked again.",
    CodeKept.FOR_AN_ADMIN: "Thank you: the EPP code is kept. Our team looks at the registry's answer before the "
    "transfer is asked again.",
    CodeKept.SAME_AS_REFUSED: "That is the EPP code the registry refused: check it with your current registrar. "
    "Nothing was sent.",
}


@login_required
@require_POST
def domain_epp_code(request: HttpRequest, domain_id: int) -> HttpResponse:
    """A new EPP code for a transfer in (a wrong one was refused, or none was given at checkout)."""
    client = client_of(request)
    domain = get_object_or_404(client_domains(client=client), pk=domain_id)
    form = EppCodeForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(message for errors in form.errors.values() for message in errors))
        return redirect("clientarea:domain_detail", domain_id=domain.pk)
    try:
        kept = domain_epp_code_replace(domain_id=domain.pk, code=form.cleaned_data["epp_code"], actor=request.user)
    except ValidationError as refused:
        messages.error(request, " ".join(refused.messages))
    else:
        (messages.warning if kept is CodeKept.SAME_AS_REFUSED else messages.success)(request, CODE_KEPT_WORDS[kept])
    return redirect("clientarea:domain_detail", domain_id=domain.pk)


@login_required
@require_POST
def domain_change(request: HttpRequest, domain_id: int, change: str) -> HttpResponse:
    """Ask the registrar for a change; the page says it is on its way, and later what the registrar answered."""
    client = client_of(request)
    domain = get_object_or_404(client_domains(client=client), pk=domain_id)
    try:
        kind = DomainChange(change)
    except ValueError:
        raise Http404("No such change.") from None
    form = DomainChangeForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(message for errors in form.errors.values() for message in errors))
        return redirect("clientarea:domain_detail", domain_id=domain.pk)
    data = form.cleaned_data
    value = {
        DomainChange.NAMESERVERS: data["nameservers"].splitlines(),
        DomainChange.LOCK: data["locked"],
        DomainChange.CONTACTS: {
            name: data[name]
            for name in ("name", "organisation", "email", "phone", "street", "city", "state", "postcode", "country")
        },
    }.get(kind)
    try:
        asked = domain_change_request(
            domain_id=domain.pk, change=kind, actor=request.user, nonce=data["nonce"], value=value, client_id=client.pk
        )
    except ValidationError as refused:
        messages.error(request, " ".join(refused.messages))
        return redirect("clientarea:domain_detail", domain_id=domain.pk)
    words = CHANGE_WORDS[kind].capitalize()
    if kind is DomainChange.EPP_CODE:
        messages.success(request, f"{words} sent to the registrar: the code is emailed to {client.email}.")
    elif asked.created:
        messages.success(request, f"{words} sent to the registrar. This page shows its answer.")
    else:
        messages.info(request, f"{words} was sent already.")
    return redirect("clientarea:domain_detail", domain_id=domain.pk)


@login_required
@require_POST
def domain_auto_renew(request: HttpRequest, domain_id: int) -> HttpResponse:
    client = client_of(request)
    domain = get_object_or_404(client_domains(client=client), pk=domain_id)
    form = AutoRenewForm(request.POST)
    form.is_valid()  # a box: absent is off, anything else is on
    on = bool(form.cleaned_data.get("on"))
    try:
        domain_auto_renew_set(domain_id=domain.pk, on=on, actor=request.user)
    except ValidationError as refused:
        messages.error(request, " ".join(refused.messages))
    else:
        messages.success(
            request,
            "Auto-renew is on: a renewal invoice comes before it expires."
            if on
            else "Auto-renew is off: no renewal invoice is made, and the domain expires on its date.",
        )
    return redirect("clientarea:domain_detail", domain_id=domain.pk)

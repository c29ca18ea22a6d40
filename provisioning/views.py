"""Client area: services and domains, always looked up through the logged-in client (404 for anyone else's)."""

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from billing.views import client_of
from provisioning.selectors import client_domains, client_services

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
    return render(request, "clientarea/service_detail.html", {"client": client, "service": service})


@login_required
def domain_list(request: HttpRequest) -> HttpResponse:
    client = client_of(request)
    page = Paginator(client_domains(client=client), PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "clientarea/domain_list.html", {"client": client, "page": page})

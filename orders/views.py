"""Client area. Every query is scoped to the logged-in user's client; a user without one sees a plain notice."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from billing.selectors import client_invoices
from orders.selectors import client_orders
from provisioning.selectors import client_domains, client_services

DASHBOARD_ROWS = 10


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    client = getattr(request.user, "client", None)
    if client is None:
        return render(request, "clientarea/no_client.html", status=200)
    context = {
        "client": client,
        "orders": client_orders(client=client)[:DASHBOARD_ROWS],
        "services": client_services(client=client)[:DASHBOARD_ROWS],
        "domains": client_domains(client=client)[:DASHBOARD_ROWS],
        "invoices": client_invoices(client=client)[:DASHBOARD_ROWS],
    }
    return render(request, "clientarea/dashboard.html", context)

"""The REST API's views: thin. Reads are the models' querysets, scoped to the credential's client when it has one
(another client's id is then a 404, as if it did not exist); writes call the apps' services."""

from __future__ import annotations

from decimal import Decimal

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from drf_spectacular.views import SpectacularSwaggerSplitView
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.generics import get_object_or_404
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from api.filters import Filter, a_date, an_id, choice, filtered
from api.idempotency import idempotent
from api.models import Area
from api.serializers import (
    ClientSerializer,
    CreditAddSerializer,
    DomainSerializer,
    InvoiceSerializer,
    OrderSerializer,
    ProductSerializer,
    ServiceSerializer,
    TransactionSerializer,
)
from billing.models import Client, Invoice, Transaction
from billing.pdf import invoice_pdf, invoice_pdf_filename
from billing.services.ledger import credit_add
from orders.models import Order, Product
from provisioning.models import Domain, Service


def _parameters(filters: dict[str, Filter]) -> list[OpenApiParameter]:
    types = {an_id: OpenApiTypes.INT, a_date: OpenApiTypes.DATE}
    return [
        OpenApiParameter(name, types.get(spec.parse, OpenApiTypes.STR), description=spec.help)
        for name, spec in filters.items()
    ]


def _choice_filter(field: str, values) -> Filter:
    return Filter(field, choice(values), f"One of {', '.join(values)}.")


CLIENT_ID = Filter("client_id", an_id, "The client's id.")


def scoped_to_client(queryset, credential, field: str = "client_id"):
    """Only the credential's client's rows when it is limited to one client (others' ids are then 404s)."""
    client_id = getattr(credential, "client_id", None)
    return queryset.filter(**{field: client_id}) if client_id else queryset


# A resource read through the API: listed by cursor and filtered, one by id, scoped to the credential's client
# when it has one. (A comment, not a docstring: drf-spectacular would print a docstring on every operation.)
class ScopedViewSet(viewsets.ReadOnlyModelViewSet):
    area: str
    model: type
    related: tuple[str, ...] = ("currency",)
    filters: dict[str, Filter] = {}
    lookup_value_regex = "[0-9]{1,18}"  # an id, or the URL is not ours (404 before any query)
    client_field = "client_id"

    def base_queryset(self):
        return self.model.objects.select_related(*self.related)

    def get_queryset(self):
        queryset = scoped_to_client(self.base_queryset(), self.request.auth, self.client_field)
        if self.action == "list":
            queryset = filtered(queryset, self.request.query_params, self.filters)
        return queryset


def _scoped(
    name: str,
    *,
    area: str,
    model: type,
    serializer: type,
    filters: dict[str, Filter],
    base: type = ScopedViewSet,
    **options,
) -> type:
    """A ScopedViewSet (or a subclass with actions of its own) for `model`, its list's filters in the schema."""
    attributes = {"area": area, "model": model, "serializer_class": serializer, "filters": filters, **options}
    view = type(name, (base,), {"__module__": __name__, **attributes})
    return extend_schema_view(list=extend_schema(parameters=_parameters(filters)))(view)


CLIENT_FILTERS = {
    "status": _choice_filter("status", Client.Status.values),
    "created_after": Filter("created_at__date__gte", a_date, "Created on or after this date."),
    "created_before": Filter("created_at__date__lte", a_date, "Created on or before this date."),
}


ClientViewSet = _scoped(
    "ClientViewSet",
    area=Area.CLIENTS,
    model=Client,
    serializer=ClientSerializer,
    filters=CLIENT_FILTERS,
    client_field="pk",
)


INVOICE_FILTERS = {
    "status": _choice_filter("status", Invoice.Status.values),
    "client": CLIENT_ID,
    "date_after": Filter("date__gte", a_date, "Issued on or after this date."),
    "date_before": Filter("date__lte", a_date, "Issued on or before this date."),
    "due_after": Filter("due_date__gte", a_date, "Due on or after this date."),
    "due_before": Filter("due_date__lte", a_date, "Due on or before this date."),
}


class PdfRenderer(BaseRenderer):
    media_type = "application/pdf"
    format = "pdf"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data


class _InvoiceActions(ScopedViewSet):
    def handle_exception(self, exc):
        # An error is JSON in the one shape, even where the caller asked for the PDF.
        if self.action == "pdf":
            self.request.accepted_renderer, self.request.accepted_media_type = JSONRenderer(), "application/json"
        return super().handle_exception(exc)

    @extend_schema(responses={(200, "application/pdf"): OpenApiTypes.BINARY})
    @action(detail=True, methods=["get"], renderer_classes=[PdfRenderer, JSONRenderer])
    def pdf(self, request, pk=None):
        """The invoice's PDF, as the client downloads it (billing's stored render)."""
        invoice = self.get_object()
        response = HttpResponse(invoice_pdf(invoice), content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="{invoice_pdf_filename(invoice)}"'
        return response


InvoiceViewSet = _scoped(
    "InvoiceViewSet",
    area=Area.INVOICES,
    model=Invoice,
    serializer=InvoiceSerializer,
    filters=INVOICE_FILTERS,
    base=_InvoiceActions,
)


ORDER_FILTERS = {
    "status": _choice_filter("status", Order.Status.values),
    "client": CLIENT_ID,
    "created_after": Filter("created_at__date__gte", a_date, "Placed on or after this date."),
    "created_before": Filter("created_at__date__lte", a_date, "Placed on or before this date."),
}


OrderViewSet = _scoped("OrderViewSet", area=Area.ORDERS, model=Order, serializer=OrderSerializer, filters=ORDER_FILTERS)


SERVICE_FILTERS = {
    "status": _choice_filter("status", Service.Status.values),
    "client": CLIENT_ID,
    "product": Filter("product_id", an_id, "The product's id."),
    "due_after": Filter("next_due_date__gte", a_date, "Next due on or after this date."),
    "due_before": Filter("next_due_date__lte", a_date, "Next due on or before this date."),
}


ServiceViewSet = _scoped(
    "ServiceViewSet", area=Area.SERVICES, model=Service, serializer=ServiceSerializer, filters=SERVICE_FILTERS
)


DOMAIN_FILTERS = {
    "status": _choice_filter("status", Domain.Status.values),
    "client": CLIENT_ID,
    "expires_after": Filter("expiry_date__gte", a_date, "Expiring on or after this date."),
    "expires_before": Filter("expiry_date__lte", a_date, "Expiring on or before this date."),
}


DomainViewSet = _scoped(
    "DomainViewSet", area=Area.DOMAINS, model=Domain, serializer=DomainSerializer, filters=DOMAIN_FILTERS
)


TRANSACTION_FILTERS = {
    "kind": _choice_filter("kind", Transaction.Kind.values),
    "client": CLIENT_ID,
    "invoice": Filter("invoice_id", an_id, "The invoice's id."),
    "date_after": Filter("date__date__gte", a_date, "On or after this date."),
    "date_before": Filter("date__date__lte", a_date, "On or before this date."),
}


TransactionViewSet = _scoped(
    "TransactionViewSet",
    area=Area.TRANSACTIONS,
    model=Transaction,
    serializer=TransactionSerializer,
    filters=TRANSACTION_FILTERS,
)


PRODUCT_FILTERS = {
    "type": _choice_filter("type", Product.Type.values),
}


@extend_schema_view(list=extend_schema(parameters=_parameters(PRODUCT_FILTERS)))
class ProductViewSet(ScopedViewSet):
    """The catalog: the same for every credential (a client-scoped one sees what is for sale, not hidden ones)."""

    area = Area.PRODUCTS
    serializer_class = ProductSerializer
    filters = PRODUCT_FILTERS

    def get_queryset(self):
        queryset = Product.objects.select_related("group")
        if getattr(self.request.auth, "client_id", None):
            queryset = queryset.filter(hidden=False, retired=False)
        if self.action == "list":
            queryset = filtered(queryset, self.request.query_params, self.filters)
        return queryset


class ClientCreditView(APIView):
    """Add credit to a client's balance (billing's credit_add: locked, in the client's currency's places, in the
    activity log with the credential as the actor)."""

    area = Area.CREDIT

    @extend_schema(request=CreditAddSerializer, responses={201: TransactionSerializer})
    @idempotent
    def post(self, request, client_id: int):
        client = get_object_or_404(scoped_to_client(Client.objects.all(), request.auth, "pk"), pk=client_id)
        asked = CreditAddSerializer(data=request.data)
        asked.is_valid(raise_exception=True)
        entry = credit_add(
            client_id=client.pk,
            amount=Decimal(asked.validated_data["amount"]),
            reason=asked.validated_data["reason"],
            actor=request.user,
        )
        return Response(TransactionSerializer(entry).data, status=status.HTTP_201_CREATED)


# Swagger UI sets inline styles as it draws (style attributes), so its page allows inline styles and nothing else
# the portal's policy does not: scripts only from our files, the schema fetched from here, no frames, no forms out.
DOCS_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


class ApiDocsView(SpectacularSwaggerSplitView):
    """The doc page: Swagger UI from our static files, its script a file of its own (no inline script)."""

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Content-Security-Policy"] = DOCS_POLICY
        return response

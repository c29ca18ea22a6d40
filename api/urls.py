from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.routers import SimpleRouter

from api import views

router = SimpleRouter()
router.register("clients", views.ClientViewSet, basename="client")
router.register("invoices", views.InvoiceViewSet, basename="invoice")
router.register("orders", views.OrderViewSet, basename="order")
router.register("products", views.ProductViewSet, basename="product")
router.register("services", views.ServiceViewSet, basename="service")
router.register("domains", views.DomainViewSet, basename="domain")
router.register("transactions", views.TransactionViewSet, basename="transaction")

app_name = "api"
urlpatterns = [
    path("v1/", include(router.urls)),
    path("v1/clients/<id:client_id>/credit/", views.ClientCreditView.as_view(), name="client-credit"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", views.ApiDocsView.as_view(url_name="api:schema"), name="docs"),
]

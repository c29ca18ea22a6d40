from django.urls import path

from billing.webhooks import gateway_webhook

app_name = "billing"

urlpatterns = [
    path("webhooks/<slug:code>/", gateway_webhook, name="gateway_webhook"),
]

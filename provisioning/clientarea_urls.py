"""Client-area service and domain pages, included by orders.urls under the "clientarea" namespace."""

from django.urls import path

from provisioning import views

urlpatterns = [
    path("services/", views.service_list, name="service_list"),
    path("services/<id:service_id>/", views.service_detail, name="service_detail"),
    path("services/<id:service_id>/cancel/", views.service_cancel, name="service_cancel"),
    path("services/<id:service_id>/cancel/withdraw/", views.service_cancel_withdraw, name="service_cancel_withdraw"),
    path("services/<id:service_id>/password/", views.service_password_reset, name="service_password_reset"),
    path("domains/", views.domain_list, name="domain_list"),
    path("domains/<id:domain_id>/", views.domain_detail, name="domain_detail"),
    path("domains/<id:domain_id>/auto-renew/", views.domain_auto_renew, name="domain_auto_renew"),
    path("domains/<id:domain_id>/epp-code/", views.domain_epp_code, name="domain_epp_code"),
    path("domains/<id:domain_id>/<str:change>/", views.domain_change, name="domain_change"),
]

"""Client-area invoice pages, included by orders.urls under the "clientarea" namespace."""

from django.urls import path

from billing import email_views, views

urlpatterns = [
    path("invoices/", views.invoice_list, name="invoice_list"),
    path("invoices/<id:invoice_id>/", views.invoice_detail, name="invoice_detail"),
    path("invoices/<id:invoice_id>/pay/<slug:gateway_code>/", views.invoice_pay, name="invoice_pay"),
    path("invoices/<id:invoice_id>/sandbox-charge/", views.sandbox_charge, name="sandbox_charge"),
    path("invoices/<id:invoice_id>/apply-credit/", views.invoice_apply_credit, name="invoice_apply_credit"),
    path("invoices/<id:invoice_id>/pdf/", views.invoice_pdf_download, name="invoice_pdf"),
    path("emails/", email_views.email_list, name="email_list"),
    path("emails/<id:email_id>/", email_views.email_detail, name="email_detail"),
    path("emails/<id:email_id>/html/", email_views.email_html, name="email_html"),
]

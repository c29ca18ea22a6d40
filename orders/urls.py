"""The client area: one namespace ("clientarea") over the pages of every app."""

from django.urls import include, path

from orders import views

app_name = "clientarea"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("orders/", views.order_list, name="order_list"),
    path("profile/", views.profile, name="profile"),
    path("store/", views.store, name="store"),
    path("store/products/<id:product_id>/", views.store_product, name="store_product"),
    path("store/cart/", views.cart, name="cart"),
    path("store/cart/<int:index>/remove/", views.cart_remove, name="cart_remove"),
    path("store/checkout/", views.checkout, name="checkout"),
    path("", include("billing.clientarea_urls")),
    path("", include("provisioning.clientarea_urls")),
]

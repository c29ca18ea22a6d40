from django.urls import path

from orders import views

app_name = "clientarea"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
]

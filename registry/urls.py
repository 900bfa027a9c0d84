from django.urls import path

from registry import views

app_name = "registry"

urlpatterns = [
    path("token", views.token, name="token"),
    path("events", views.events, name="events"),
]

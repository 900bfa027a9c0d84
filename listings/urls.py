from django.urls import path

app_name = "listings"

urlpatterns: list = []

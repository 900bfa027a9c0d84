from django.urls import path

from scanning import views

app_name = "scanning"

urlpatterns = [
    path("<str:namespace>/", views.scan_list, name="scans"),
    path("<str:namespace>/scans/<int:scan_id>/", views.scan_detail, name="scan"),
    path("<str:namespace>/scans/<int:scan_id>/sbom.json", views.scan_sbom, name="sbom"),
    path("<str:namespace>/scans/<int:scan_id>/rescan/", views.scan_rescan, name="rescan"),
]

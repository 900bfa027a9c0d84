from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from store import views

handler404 = "store.api.not_found"
handler500 = "store.api.server_error"

admin.site.site_header = f"{settings.SITE_NAME} administration"
admin.site.site_title = f"{settings.SITE_NAME} admin"

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("publishers/", include("publishers.urls")),
    path("billing/", include("billing.urls")),
    path("scanning/", include("scanning.urls")),
    path("registry/", include("registry.urls")),
    path("", include("listings.urls")),
    path("api/v1/", include("accounts.api")),
    path("api/v1/", include("publishers.api")),
    path("api/v1/", include("listings.api")),
    path("api/v1/", include("billing.api")),
    path("api/v1/", include("scanning.api")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]

if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)

"""The store's URLs plus uploaded media, so logos show in the browser (the live server runs with
DEBUG off, where store.urls leaves media to the web server)."""

from django.conf import settings
from django.urls import re_path
from django.views.static import serve

from store.urls import urlpatterns as store_urlpatterns

urlpatterns = [
    re_path(r"^media/(?P<path>.*)$", serve, {"document_root": settings.MEDIA_ROOT}),
    *store_urlpatterns,
]

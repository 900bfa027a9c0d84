"""Until the accounts and publishers pages land, base.html's links need names to reverse.

``tests/listings/conftest.py`` switches to this URLconf only when those names are missing.
"""

from django.http import HttpResponse
from django.urls import include, path

from store.urls import urlpatterns as store_urlpatterns


def _stub(request, *args, **kwargs):
    return HttpResponse("stub")


accounts_patterns = (
    [
        path("login/", _stub, name="login"),
        path("logout/", _stub, name="logout"),
        path("signup/", _stub, name="signup"),
        path("account/", _stub, name="account"),
    ],
    "accounts",
)
publishers_patterns = (
    [
        path("new/", _stub, name="create"),
        path("<str:namespace>/dashboard/", _stub, name="dashboard"),
    ],
    "publishers",
)

urlpatterns = [
    p for p in store_urlpatterns if getattr(p, "namespace", None) not in {"accounts", "publishers"}
]
urlpatterns += [
    path("stub-accounts/", include(accounts_patterns)),
    path("stub-publishers/", include(publishers_patterns)),
]

from __future__ import annotations

import pytest
from django.urls import NoReverseMatch, clear_url_caches, reverse

from accounts.models import User
from tests.listings.helpers import make_moderator


def _names_missing() -> bool:
    try:
        reverse("accounts:login")
        reverse("publishers:create")
        reverse("publishers:dashboard", args=["acme"])
    except NoReverseMatch:
        return True
    return False


@pytest.fixture(autouse=True)
def _site_links(settings):
    """Templates link to account and publisher pages; stand in for them while they are missing."""
    if _names_missing():
        settings.ROOT_URLCONF = "tests.listings.stub_urls"
        clear_url_caches()
    yield
    clear_url_caches()


@pytest.fixture
def moderator(db) -> User:
    return make_moderator()

from __future__ import annotations

import pytest

from accounts.models import User
from listings import selectors
from tests.listings.helpers import make_moderator


@pytest.fixture
def moderator(db) -> User:
    return make_moderator()


@pytest.fixture
def small_cap(monkeypatch):
    """A cap of 3 matches and 2 candidates per kind, so a handful of products make a broad search."""
    monkeypatch.setattr(selectors, "RESULT_CAP", 3)
    monkeypatch.setattr(selectors, "RANK_CANDIDATES", 2)
    monkeypatch.setattr(selectors, "FACETS_CACHE_SECONDS", 0)  # 0: never kept

from __future__ import annotations

import pytest

from accounts.models import User
from tests.listings.helpers import make_moderator


@pytest.fixture
def moderator(db) -> User:
    return make_moderator()

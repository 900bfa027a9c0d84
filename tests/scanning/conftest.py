from __future__ import annotations

from pathlib import Path

import pytest

from accounts.models import User
from tests.listings.helpers import make_moderator
from tests.scanning.helpers import CORPUS


@pytest.fixture
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.skip(f"the shared corpus is not checked out next to the repository ({CORPUS})")
    return CORPUS


@pytest.fixture
def moderator(db) -> User:
    return make_moderator()

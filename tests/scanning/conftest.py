from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from accounts.models import User
from tests.listings.helpers import make_moderator
from tests.scanning.helpers import CORPUS, SilentServer


@pytest.fixture
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.skip(f"the shared corpus is not checked out next to the repository ({CORPUS})")
    return CORPUS


@pytest.fixture
def moderator(db) -> User:
    return make_moderator()


@pytest.fixture
def silent_registry() -> Iterator[str]:
    """``host:port`` of a registry that accepts connections and never answers."""
    server = SilentServer()
    yield f"127.0.0.1:{server.port}"
    server.close()

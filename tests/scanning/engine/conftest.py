"""The engine's tests need no database and no Django: plain pytest fixtures only."""

from __future__ import annotations

from pathlib import Path

import pytest

CORPUS = Path(__file__).resolve().parents[3] / ".." / "shared" / "corpus"


@pytest.fixture
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.skip(f"the shared corpus is not checked out next to the repository ({CORPUS})")
    return CORPUS

"""Fixtures for tests that need the real Celery broker instead of eager tasks."""

from __future__ import annotations

import socket

import pytest
from pytest_django import Settings


@pytest.fixture
def real_broker(settings: Settings) -> str:
    """Tasks go through the test Redis: eager mode off, broker and result backend on REDIS_URL.

    The Celery app reads ``CELERY_*`` through Django's settings on every lookup, so overriding the
    settings is enough for new connections and ``apply_async``.
    """
    assert settings.REDIS_URL, "the test settings point REDIS_URL at the test Redis"
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = settings.REDIS_URL
    settings.CELERY_RESULT_BACKEND = settings.REDIS_URL
    return settings.REDIS_URL


@pytest.fixture
def closed_port() -> int:
    """A local TCP port nobody listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from celery.contrib.testing.worker import start_worker
from celery.signals import task_postrun
from django.db import connections
from pytest_django import Settings

from accounts.models import User
from store.celery import app
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


# -- a real Celery worker on Redis (the approach of tests/store/test_celery_worker.py) -----------------


@pytest.fixture
def real_broker(settings: Settings) -> str:
    """Tasks go through the test Redis: eager mode off, broker and result backend on REDIS_URL."""
    assert settings.REDIS_URL, "the test settings point REDIS_URL at the test Redis"
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = settings.REDIS_URL
    settings.CELERY_RESULT_BACKEND = settings.REDIS_URL
    return settings.REDIS_URL


def _close_worker_connections(**kwargs: Any) -> None:
    # Runs in the worker thread: leave no connection open on the test database, or dropping it at
    # the end of the session would find it "being accessed by other users".
    connections.close_all()


@pytest.fixture
def worker_queue() -> str:
    """This run's own queue, so parallel pytest-xdist workers sharing one Redis never mix tasks."""
    return f"test-scan-{uuid.uuid4().hex}"


@pytest.fixture
def worker(real_broker: str, worker_queue: str) -> Iterator[None]:
    """A Celery worker in a thread of this process, consuming ``worker_queue`` from Redis."""
    task_postrun.connect(_close_worker_connections, weak=False)
    hijack = app.conf.worker_hijack_root_logger
    app.conf.worker_hijack_root_logger = False  # keep pytest's log capture and Django's handlers
    try:
        # The ping check would go to the default queue, which this worker does not consume.
        with start_worker(app, queues=[worker_queue], perform_ping_check=False, shutdown_timeout=30):
            yield
    finally:
        app.conf.worker_hijack_root_logger = hijack
        task_postrun.disconnect(_close_worker_connections)
        client = redis.Redis.from_url(real_broker)
        client.delete(
            worker_queue, f"_kombu.binding.{worker_queue}", f"_kombu.binding_permanent.{worker_queue}"
        )
        client.close()

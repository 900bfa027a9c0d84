"""Personas and shared fixtures.

Every tenant test uses three people: the ``owner`` of publisher ``acme``, a ``member`` (editor) of
the same publisher, and an ``outsider`` who owns another publisher and must see nothing of acme.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis
from celery.contrib.testing.worker import start_worker
from celery.signals import task_postrun
from django.db import connection, connections
from pytest_django import Settings
from rest_framework.test import APIClient

from accounts.models import User
from publishers.models import Publisher, Role
from store.celery import app as celery_app
from tests.factories import MembershipFactory, PublisherFactory, UserFactory


def pytest_report_header(config: pytest.Config) -> list[str]:
    from django.conf import settings

    db = settings.DATABASES["default"]
    return [
        f"database engine: {db['ENGINE']} at {db.get('HOST') or '-'}:{db.get('PORT') or '-'}/{db['NAME']}",
        f"cache/broker: {settings.CACHES['default']['BACKEND']} / {settings.CELERY_BROKER_URL}",
    ]


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@dataclass
class Personas:
    acme: Publisher
    owner: User
    member: User
    viewer: User
    outsider: User
    other: Publisher


@pytest.fixture
def personas(db) -> Personas:
    acme = PublisherFactory(namespace="acme", legal_name="Acme Containers Ltd")
    other = PublisherFactory(namespace="globex", legal_name="Globex Corporation")
    owner = UserFactory(email="owner@acme.example.com", full_name="Olive Owner")
    member = UserFactory(email="editor@acme.example.com", full_name="Eddie Editor")
    viewer = UserFactory(email="viewer@acme.example.com", full_name="Vera Viewer")
    outsider = UserFactory(email="owner@globex.example.com", full_name="Oscar Outsider")
    MembershipFactory(publisher=acme, user=owner, role=Role.OWNER)
    MembershipFactory(publisher=acme, user=member, role=Role.EDITOR)
    MembershipFactory(publisher=acme, user=viewer, role=Role.VIEWER)
    MembershipFactory(publisher=other, user=outsider, role=Role.OWNER)
    return Personas(acme=acme, owner=owner, member=member, viewer=viewer, outsider=outsider, other=other)


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def is_postgres(db) -> bool:
    return connection.vendor == "postgresql"


# -- a real Celery worker on Redis --------------------------------------------------------------


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


def _close_worker_connections(**kwargs: Any) -> None:
    # Runs in the worker thread: leave no connection open on the test database, or dropping it at
    # the end of the session would find it "being accessed by other users".
    connections.close_all()


@pytest.fixture
def worker_queue() -> str:
    """This run's own queue, so parallel pytest-xdist workers sharing one Redis never mix tasks."""
    return f"test-{uuid.uuid4().hex}"


@pytest.fixture
def worker(real_broker: str, worker_queue: str) -> Iterator[None]:
    """A Celery worker in a thread of this process, consuming ``worker_queue`` from Redis.

    It uses the test database pytest-django set up, so tests that use it are transactional: what
    they write must be committed to be seen by the worker's thread.
    """
    task_postrun.connect(_close_worker_connections, weak=False)
    hijack = celery_app.conf.worker_hijack_root_logger
    celery_app.conf.worker_hijack_root_logger = False  # keep pytest's log capture and Django's handlers
    try:
        # The ping check would go to the default queue, which this worker does not consume.
        with start_worker(celery_app, queues=[worker_queue], perform_ping_check=False, shutdown_timeout=30):
            yield
    finally:
        celery_app.conf.worker_hijack_root_logger = hijack
        task_postrun.disconnect(_close_worker_connections)
        # kombu remembers each queue's binding in Redis; forget this run's queue.
        client = redis.Redis.from_url(real_broker)
        client.delete(
            worker_queue, f"_kombu.binding.{worker_queue}", f"_kombu.binding_permanent.{worker_queue}"
        )
        client.close()

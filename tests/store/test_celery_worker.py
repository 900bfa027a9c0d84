"""A real Celery worker consumes tasks queued after commit from the Redis broker.

The invitation email goes the whole way: ``member_invite`` queues
``publishers.tasks.send_invitation_email`` on commit, the worker takes it from Redis and sends it.

The worker runs in a thread of this process, so it uses the test database pytest-django set up;
the tests are transactional so that what they write is committed and visible to that thread.
Each run consumes from its own queue, so parallel pytest-xdist workers sharing one Redis never take
each other's tasks.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from celery.result import AsyncResult, EagerResult
from celery.signals import after_task_publish
from django.apps import apps
from django.conf import settings as django_settings
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.db import transaction
from django.utils import timezone
from pytest_django import Settings

from audit import services
from audit.models import AuditEvent, EventType
from audit.tasks import purge_expired_events
from publishers import services as publisher_services
from publishers.models import Invitation, Role
from publishers.tasks import send_invitation_email
from store.celery import app
from store.tasks import clear_expired_sessions
from tests.factories import MembershipFactory, PublisherFactory, UserFactory

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

RESULT_TIMEOUT = 20


def _old_event(days_ago: int) -> AuditEvent:
    # Inserting with an old timestamp is an insert, which the append-only log allows.
    return AuditEvent.objects.create(
        event_type=EventType.PUBLISHER_CREATED, occurred_at=timezone.now() - timedelta(days=days_ago)
    )


def test_worker_purges_expired_audit_events_queued_on_commit(
    worker: None, worker_queue: str, settings: Settings
) -> None:
    settings.AUDIT_RETENTION_DAYS = 365
    queued: list[AsyncResult[Any]] = []
    with transaction.atomic():
        expired = [_old_event(days_ago=400), _old_event(days_ago=500)]
        kept = [_old_event(days_ago=300), services.record(event_type=EventType.PUBLISHER_CREATED)]
        transaction.on_commit(lambda: queued.append(purge_expired_events.apply_async(queue=worker_queue)))
        assert queued == [], "queued only once the events are committed"

    assert len(queued) == 1
    result = queued[0]
    assert not isinstance(result, EagerResult), "sent to the broker, not run in-process"
    assert result.get(timeout=RESULT_TIMEOUT) == 2  # the count, read back from the Redis backend
    assert result.status == "SUCCESS"
    assert not AuditEvent.objects.filter(pk__in=[e.pk for e in expired]).exists()
    assert AuditEvent.objects.filter(pk__in=[e.pk for e in kept]).count() == 2


def test_worker_clears_expired_sessions(worker: None, worker_queue: str) -> None:
    live = SessionStore()
    live["cart"] = "nginx-plus"
    live.create()
    stale = SessionStore()
    stale.create()
    Session.objects.filter(session_key=stale.session_key).update(
        expire_date=timezone.now() - timedelta(minutes=1)
    )

    result = clear_expired_sessions.apply_async(queue=worker_queue)
    result.get(timeout=RESULT_TIMEOUT)

    assert result.successful()
    assert list(Session.objects.values_list("session_key", flat=True)) == [live.session_key]


def test_a_failing_task_reports_its_error_through_the_backend(
    worker: None, worker_queue: str, settings: Settings
) -> None:
    """The purge refuses a retention period under 180 days, and the caller sees why."""
    settings.AUDIT_RETENTION_DAYS = 30
    result = purge_expired_events.apply_async(queue=worker_queue)
    with pytest.raises(ValueError, match="at least 180 days"):
        result.get(timeout=RESULT_TIMEOUT)
    assert result.status == "FAILURE"


@pytest.fixture
def published() -> Iterator[list[tuple[str, str]]]:
    """(task name, task id) of each task this process sends to the broker, in order."""
    ids: list[tuple[str, str]] = []

    def remember(sender: str | None = None, headers: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if sender and headers:
            ids.append((sender, headers["id"]))

    after_task_publish.connect(remember, weak=False)
    try:
        yield ids
    finally:
        after_task_publish.disconnect(remember)


def test_worker_sends_the_invitation_email_queued_on_commit(
    worker: None,
    worker_queue: str,
    settings: Settings,
    published: list[tuple[str, str]],
    mailoutbox: list[Any],
) -> None:
    """``member_invite`` queues the email task only once its transaction commits; the worker sends it."""
    # member_invite calls .delay() without a queue, so it goes to the default one: this run's.
    settings.CELERY_TASK_DEFAULT_QUEUE = worker_queue
    owner = UserFactory(email="owner@initech.example.com")
    publisher = PublisherFactory(namespace="initech", legal_name="Initech LLC")
    MembershipFactory(publisher=publisher, user=owner, role=Role.OWNER)

    with transaction.atomic():
        invitation, token = publisher_services.member_invite(
            publisher=publisher, actor=owner, email="Peter@Initech.example.com", role=Role.EDITOR
        )
        assert published == [], "queued only once the invitation is committed"

    [(name, task_id)] = published
    assert name == send_invitation_email.name
    result: AsyncResult[Any] = AsyncResult(task_id, app=app)
    assert result.get(timeout=RESULT_TIMEOUT) is True  # sent, as the task reports through Redis
    assert result.status == "SUCCESS"
    [email] = mailoutbox
    assert email.to == ["peter@initech.example.com"]
    assert f"{django_settings.SITE_URL}/publishers/invitations/{token}/" in email.body
    # The worker had only the invitation's id and the token; the database still holds just the hash.
    assert not Invitation.objects.filter(token_hash=token).exists()
    assert Invitation.objects.get(pk=invitation.pk).is_pending


def _project_task_modules() -> list[str]:
    base = Path(django_settings.BASE_DIR).resolve()
    return sorted(
        f"{config.name}.tasks"
        for config in apps.get_app_configs()
        if Path(config.path).resolve().is_relative_to(base) and (Path(config.path) / "tasks.py").exists()
    )


def test_tasks_are_discovered_from_every_app_and_acknowledged_late() -> None:
    """The worker knows every task any app defines, and acks each only after it has run."""
    modules = _project_task_modules()
    assert {"accounts.tasks", "audit.tasks", "publishers.tasks", "store.tasks"} <= set(modules)
    app.loader.import_default_modules()  # what a worker does at start: autodiscovery included
    for module_name in modules:
        registered = {name: task for name, task in app.tasks.items() if name.startswith(f"{module_name}.")}
        assert registered, f"no task of {module_name} is registered with the Celery app"
        late = {name: task.acks_late for name, task in registered.items()}
        assert all(late.values()), f"acknowledged before they run: {late}"

from datetime import timedelta

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from audit import services
from audit.models import AuditEvent, EventType

pytestmark = pytest.mark.django_db


def _event(days_ago: int = 0) -> AuditEvent:
    event = services.record(event_type=EventType.PUBLISHER_CREATED, data={"n": days_ago})
    if days_ago:
        # Inserting with an old timestamp is allowed (it is an insert); moving one is not.
        event = AuditEvent.objects.create(
            event_type=EventType.PUBLISHER_CREATED, occurred_at=timezone.now() - timedelta(days=days_ago)
        )
    return event


def test_database_is_postgresql():
    """The suite runs on the real PostgreSQL, where the append-only trigger lives."""
    assert connection.vendor == "postgresql"


def test_update_is_rejected_by_the_database():
    event = _event()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(data={"tampered": True})
    event.refresh_from_db()
    assert event.data == {"n": 0}


def test_raw_sql_update_and_delete_are_rejected():
    event = _event()
    for sql in (
        "UPDATE audit_auditevent SET event_type = 'x' WHERE id = %s",
        "DELETE FROM audit_auditevent WHERE id = %s",
    ):
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql, [event.pk])
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_orm_delete_is_rejected():
    event = _event()
    with pytest.raises(DatabaseError), transaction.atomic():
        event.delete()
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_purge_removes_only_events_older_than_retention():
    old = _event(days_ago=400)
    recent = _event(days_ago=10)
    assert services.purge_before(retention_days=365) == 1
    assert not AuditEvent.objects.filter(pk=old.pk).exists()
    assert AuditEvent.objects.filter(pk=recent.pk).exists()


def test_purge_refuses_periods_under_180_days():
    old = _event(days_ago=400)
    with pytest.raises(ValueError, match="180"):
        services.purge_before(retention_days=90)
    assert AuditEvent.objects.filter(pk=old.pk).exists()


def test_database_refuses_short_retention_even_when_asked_directly():
    old = _event(days_ago=400)
    with pytest.raises(DatabaseError, match="180-day minimum"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('audit.retention_days', '30', true)")
            cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [old.pk])
    assert AuditEvent.objects.filter(pk=old.pk).exists()


def test_database_refuses_deleting_recent_events_during_purge():
    recent = _event(days_ago=10)
    with pytest.raises(DatabaseError, match="newer than"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('audit.retention_days', '200', true)")
            cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [recent.pk])
    assert AuditEvent.objects.filter(pk=recent.pk).exists()


def test_truncate_is_refused_without_the_opt_in():
    """The test settings opt in for the runner's flush; any other connection is refused."""
    event = _event()
    with pytest.raises(DatabaseError, match="TRUNCATE refused"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('audit.allow_truncate', 'off', true)")
            cursor.execute("TRUNCATE audit_auditevent")
    assert AuditEvent.objects.filter(pk=event.pk).exists()

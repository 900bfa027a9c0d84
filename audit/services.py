"""Writes to the audit log. Call ``record`` inside the transaction of the write it describes."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.db import connection, models, transaction
from django.utils import timezone

from audit.models import AuditEvent, EventType

if TYPE_CHECKING:
    from accounts.models import User
    from publishers.models import Publisher

MIN_RETENTION_DAYS = 180


def record(
    *,
    event_type: EventType,
    actor: User | None = None,
    publisher: Publisher | None = None,
    target: models.Model | None = None,
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event. ``target`` names the object the event is about (type and id)."""
    return AuditEvent.objects.create(
        event_type=event_type,
        actor=actor if actor is not None and actor.pk else None,
        actor_email=actor.email if actor is not None and actor.pk else "",
        publisher=publisher,
        target_type=target._meta.label_lower if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        data=data or {},
    )


def purge_before(*, retention_days: int) -> int:
    """Delete events older than ``retention_days``; the database refuses anything under 180 days.

    The trigger reads the retention period from a transaction-local setting, so the same DELETE
    issued anywhere else (or with a shorter period) is rejected by PostgreSQL itself.
    """
    if retention_days < MIN_RETENTION_DAYS:
        raise ValueError(f"Audit events are kept at least {MIN_RETENTION_DAYS} days.")
    cutoff = timezone.now() - timedelta(days=retention_days)
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config('audit.retention_days', %s, true)", [str(retention_days)])
        deleted, _ = AuditEvent.objects.filter(occurred_at__lt=cutoff).delete()
    return deleted

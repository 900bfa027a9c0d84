from celery import shared_task
from django.conf import settings

from audit import services


@shared_task(acks_late=True)
def purge_expired_events() -> int:
    """Daily: drop audit events older than AUDIT_RETENTION_DAYS (never under 180 days)."""
    return services.purge_before(retention_days=settings.AUDIT_RETENTION_DAYS)

from celery import shared_task

from registry import services


@shared_task(acks_late=True)
def purge_registry_events() -> int:
    """Daily: drop registry events older than REGISTRY_EVENT_RETENTION_DAYS (default 90)."""
    return services.registry_events_purge()

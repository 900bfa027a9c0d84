"""Background work of billing: Stripe events, the periodic reconcile and the catalog sync."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from billing import gateway, services
from listings.models import Revision


@shared_task(bind=True, acks_late=True, max_retries=8)
def process_event(self: Any, event_pk: int) -> str:
    """Apply one stored Stripe event. When Stripe cannot be asked, retry with back-off; once
    retries run out the event stays unprocessed and the reconcile task replays it."""
    try:
        return services.event_process(event_pk=event_pk)
    except gateway.GatewayError as exc:
        if self.request.is_eager:
            return f"failed: {exc.message}"
        raise self.retry(exc=exc, countdown=min(600, 30 * 2**self.request.retries)) from exc


@shared_task(acks_late=True)
def reconcile_events() -> int:
    """Fetch the events Stripe sent in the last days, store the ones we never received and
    process every event still unprocessed."""
    return services.events_reconcile()


@shared_task(bind=True, acks_late=True, max_retries=8)
def sync_catalog(self: Any, revision_id: int) -> int:
    """Create or update the Stripe Products and Prices of an approved revision's paid tiers."""
    revision = Revision.objects.select_related("product__publisher").filter(pk=revision_id).first()
    if revision is None:
        return 0
    try:
        return len(services.catalog_sync_for_revision(revision=revision))
    except gateway.GatewayError as exc:
        if self.request.is_eager:
            return 0
        raise self.retry(exc=exc, countdown=min(600, 30 * 2**self.request.retries)) from exc

"""Background work of billing: Stripe events, the periodic reconcile, the catalog sync and the
customers' emails."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from celery import shared_task
from django.conf import settings
from django.urls import reverse

from billing import gateway, selectors, services
from billing.models import LedgerEntry, LedgerKind, Licence
from listings.models import Revision
from store.mail import RETRY_ON, send_templated


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


# ---------------------------------------------------------------------------------------------
# Email to customers, queued by the services after their transaction commits.

EMAILS = ("licence_granted", "purchase_receipt", "trial_ending", "payment_failed", "refund")


@shared_task(acks_late=True, autoretry_for=RETRY_ON, retry_backoff=True, retry_backoff_max=600, max_retries=6)
def send_licence_email(kind: str, licence_id: int, data: dict[str, Any] | None = None) -> int:
    """Email the holder of a licence: ``kind`` is one of ``EMAILS`` (templates in
    ``templates/emails/billing/``). Amounts are read from the ledger, so the email says what the
    store recorded. Returns 1 if sent, 0 when there is nobody (or nothing) to tell."""
    if kind not in EMAILS:
        raise ValueError(f"unknown billing email {kind!r}")
    licence = (
        Licence.objects.select_related("user", "product__publisher", "product__live_revision")
        .filter(pk=licence_id)
        .first()
    )
    if licence is None or not licence.user.is_active or not licence.user.email:
        return 0
    context = _email_context(kind, licence, data or {})
    if context is None:
        return 0
    return send_templated(template=f"emails/billing/{kind}", to=licence.user.email, context=context)


def _email_context(kind: str, licence: Licence, data: dict[str, Any]) -> dict[str, Any] | None:
    tier = selectors.current_tier(licence.product, licence.tier_key)
    host = getattr(settings, "REGISTRY_PUBLIC_HOST", "registry.localhost:5000")
    context: dict[str, Any] = {
        "licence": licence,
        "product": licence.product,
        "publisher": licence.product.publisher,
        "user": licence.user,
        "registry_host": host,
        "pull": f"docker pull {host}/{tier.repository}:{tier.tag}"
        if tier and selectors.may_pull_licensed(user=licence.user, licence=licence, live_tier=tier)
        else "",
        "licences_url": settings.SITE_URL + reverse("billing:licences"),
        "product_url": settings.SITE_URL + licence.product.get_absolute_url(),
    }
    if kind == "purchase_receipt":
        rows = {
            e.kind: e
            for e in LedgerEntry.objects.filter(
                stripe_object_id=str(data.get("object_id", "")), licence=licence
            )
        }
        payment = rows.get(LedgerKind.PAYMENT)
        if payment is None:
            return None
        tax = rows[LedgerKind.TAX].amount if LedgerKind.TAX in rows else 0
        context.update(
            payment=payment,
            tax=tax,
            subtotal=payment.amount - tax,
            renewal=data.get("reason") == "subscription_cycle",
        )
    elif kind == "refund":
        refund = LedgerEntry.objects.filter(
            kind=LedgerKind.REFUND, stripe_object_id=str(data.get("refund_id", ""))
        ).first()
        if refund is None:
            return None
        context["refund"] = refund
    elif kind == "payment_failed":
        context.update(
            amount_due=int(data.get("amount_due") or 0),
            currency=str(data.get("currency") or licence.currency),
            next_attempt=_when(data.get("next_attempt")),
            invoice_url=str(data.get("invoice_url") or ""),
        )
    elif kind == "trial_ending":
        context["trial_end"] = _when(data.get("trial_end")) or licence.current_period_end
    return context


def _when(unix: Any) -> datetime | None:
    return datetime.fromtimestamp(int(unix), tz=UTC) if unix else None

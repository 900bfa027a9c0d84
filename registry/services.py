"""Writes of the registry integration: registry notifications in, approved images out."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import User
from audit.models import AuditEvent, EventType
from audit.services import record
from listings.models import RevisionState, Tier
from listings.references import split_reference
from publishers.models import Publisher
from registry.client import Manifest, RegistryClient, RegistryError, service_account
from registry.models import Outcome, RegistryEvent

if TYPE_CHECKING:
    from listings.models import Revision

logger = logging.getLogger(__name__)

EVENTS_MEDIA_TYPE = "application/vnd.docker.distribution.events.v1+json"
MANIFEST_MEDIA_TYPES = frozenset(
    {
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
    }
)
MAX_EVENTS_PER_POST = 1000


class EventsError(ValueError):
    """A notification body the store cannot read; the message says what is wrong."""


@dataclass(frozen=True)
class RegistryNotice:
    """The parts of one registry event the store uses."""

    event_id: str
    occurred_at: datetime
    action: str
    method: str
    repository: str
    tag: str
    digest: str
    media_type: str
    actor: str

    @property
    def is_manifest(self) -> bool:
        return self.media_type in MANIFEST_MEDIA_TYPES


@dataclass(frozen=True)
class IngestResult:
    received: int
    new: int
    downloads: int
    scans: int


def _text(value: Any, where: str, *, required: bool = False, limit: int = 255) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise EventsError(
            f"{where} must be a non-empty string." if required else f"{where} must be a string."
        )
    if len(value) > limit:
        raise EventsError(f"{where} is longer than {limit} characters.")
    return value


def parse_events(body: bytes) -> list[RegistryNotice]:
    """The events of a notification envelope ``{"events": [...]}``; EventsError says what is wrong."""
    try:
        envelope = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise EventsError(f"The body is not JSON ({exc}).") from None
    if not isinstance(envelope, dict) or not isinstance(envelope.get("events"), list):
        raise EventsError('The body must be an object with an "events" list.')
    raw_events = envelope["events"]
    if len(raw_events) > MAX_EVENTS_PER_POST:
        raise EventsError(f"At most {MAX_EVENTS_PER_POST} events per request.")
    notices: list[RegistryNotice] = []
    for index, event in enumerate(raw_events):
        where = f"events[{index}]"
        if not isinstance(event, dict):
            raise EventsError(f"{where} must be an object.")
        target = event.get("target")
        request = event.get("request") or {}
        actor = event.get("actor") or {}
        if not isinstance(target, dict) or not isinstance(request, dict) or not isinstance(actor, dict):
            raise EventsError(f"{where}: target, request and actor must be objects.")
        timestamp = _text(event.get("timestamp"), f"{where}.timestamp", required=True, limit=64)
        try:
            occurred_at = datetime.fromisoformat(timestamp)
        except ValueError:
            raise EventsError(f"{where}.timestamp “{timestamp}” is not an ISO 8601 time.") from None
        if timezone.is_naive(occurred_at):
            raise EventsError(f"{where}.timestamp must carry a time zone.")
        notices.append(
            RegistryNotice(
                event_id=_text(event.get("id"), f"{where}.id", required=True, limit=100),
                occurred_at=occurred_at,
                action=_text(event.get("action"), f"{where}.action", required=True, limit=20),
                method=_text(request.get("method"), f"{where}.request.method", limit=10).upper(),
                repository=_text(target.get("repository"), f"{where}.target.repository", required=True),
                tag=_text(target.get("tag"), f"{where}.target.tag", limit=128),
                digest=_text(target.get("digest"), f"{where}.target.digest", limit=100),
                media_type=_text(target.get("mediaType"), f"{where}.target.mediaType", limit=100),
                actor=_text(actor.get("name"), f"{where}.actor.name", limit=254),
            )
        )
    return notices


def _insert_new(rows: list[RegistryEvent]) -> set[str]:
    """Insert the rows whose event id is new; the ids inserted. A concurrent redelivery of the same
    event waits on the unique index and then inserts nothing, so each event counts once."""
    if not rows:
        return set()
    table = RegistryEvent._meta.db_table
    columns = [
        "event_id",
        "occurred_at",
        "received_at",
        "action",
        "method",
        "repository",
        "tag",
        "digest",
        "media_type",
        "actor",
        "outcome",
    ]
    adapt = connection.ops.adapt_datetimefield_value
    params: list[Any] = []
    for row in rows:
        params += [
            row.event_id,
            adapt(row.occurred_at),
            adapt(row.received_at),
            row.action,
            row.method,
            row.repository,
            row.tag,
            row.digest,
            row.media_type,
            row.actor,
            row.outcome,
        ]
    placeholders = ", ".join(["(" + ", ".join(["%s"] * len(columns)) + ")"] * len(rows))
    quote = connection.ops.quote_name
    sql = (
        f"INSERT INTO {quote(table)} ({', '.join(quote(c) for c in columns)}) VALUES {placeholders} "  # noqa: S608
        f"ON CONFLICT ({quote('event_id')}) DO NOTHING RETURNING {quote('event_id')}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {row[0] for row in cursor.fetchall()}


def _queue_scan(notice: RegistryNotice, user: User | None) -> bool:
    try:
        from scanning.services import scan_request
    except ImportError:
        logger.warning("scanning.services.scan_request is missing: no scan for %s", notice.digest)
        return False
    tier = (
        Tier.objects.filter(staging_source=f"{notice.repository}:{notice.tag}")
        .exclude(revision__state__in=[RevisionState.SUPERSEDED, RevisionState.REJECTED])
        .select_related("revision")
        .order_by("-revision__number")
        .first()
        if notice.tag
        else None
    )
    scan_request(
        reference=f"{notice.repository}@{notice.digest}",
        tier=tier,
        revision=tier.revision if tier is not None else None,
        requested_by=user,
        source="registry",
    )
    return True


def events_ingest(*, notices: list[RegistryNotice]) -> IngestResult:
    """Record registry notifications once each (by event id), in one transaction:

    - a manifest GET on a customer-facing repository with a live tier is one audit DOWNLOAD
      (HEADs, blob events and the store's own pulls are not downloads);
    - a manifest push to a staging repository queues a scan of that digest.
    """
    first: dict[str, RegistryNotice] = {}
    for notice in notices:
        first.setdefault(notice.event_id, notice)
    unique = list(first.values())
    service = service_account()
    pulls = [
        n for n in unique if n.action == "pull" and n.method == "GET" and n.is_manifest and n.actor != service
    ]
    pushes = [n for n in unique if n.action == "push" and n.is_manifest and n.digest]
    live_tiers: dict[str, Tier] = {}
    if pulls:
        live_tiers = {
            t.repository: t
            for t in Tier.objects.filter(
                repository__in={n.repository for n in pulls}, revision__product__live_revision=F("revision")
            ).select_related("revision__product")
        }
    staging: set[str] = set()
    if pushes:
        names = {n.repository for n in pushes}
        customer_facing = set(Tier.objects.filter(repository__in=names).values_list("repository", flat=True))
        namespaces = set(
            Publisher.objects.filter(namespace__in={n.split("/", 1)[0] for n in names}).values_list(
                "namespace", flat=True
            )
        )
        staging = {n for n in names - customer_facing if n.split("/", 1)[0] in namespaces}
    emails = {n.actor for n in pulls + pushes if n.actor}
    users = {u.email: u for u in User.objects.filter(email__in=emails)} if emails else {}

    now = timezone.now()
    outcomes: dict[str, str] = {}
    for n in pulls:
        if n.repository in live_tiers:
            outcomes[n.event_id] = Outcome.DOWNLOAD
    for n in pushes:
        if n.repository in staging:
            outcomes[n.event_id] = Outcome.SCAN
    rows = [
        RegistryEvent(
            event_id=n.event_id,
            occurred_at=n.occurred_at,
            received_at=now,
            action=n.action,
            method=n.method,
            repository=n.repository,
            tag=n.tag,
            digest=n.digest,
            media_type=n.media_type,
            actor=n.actor,
            outcome=outcomes.get(n.event_id, Outcome.IGNORED),
        )
        for n in unique
    ]
    downloads = scans = 0
    with transaction.atomic():
        new = _insert_new(rows)
        audit_rows: list[AuditEvent] = []
        for n in unique:
            if n.event_id not in new:
                continue
            outcome = outcomes.get(n.event_id)
            user = users.get(n.actor)
            if outcome == Outcome.DOWNLOAD:
                audit_rows.append(_download_event(n, live_tiers[n.repository], user))
            elif outcome == Outcome.SCAN and _queue_scan(n, user):
                scans += 1
        AuditEvent.objects.bulk_create(audit_rows)
        downloads = len(audit_rows)
    return IngestResult(received=len(notices), new=len(new), downloads=downloads, scans=scans)


def _download_event(notice: RegistryNotice, tier: Tier, user: User | None) -> AuditEvent:
    product = tier.revision.product
    return AuditEvent(
        event_type=EventType.DOWNLOAD,
        occurred_at=notice.occurred_at,
        actor=user,
        actor_email=user.email if user is not None else notice.actor,
        publisher_id=product.publisher_id,
        target_type=product._meta.label_lower,
        target_id=str(product.pk),
        data={
            "tier": str(tier.key),
            "tier_name": tier.name,
            "repository": notice.repository,
            "tag": notice.tag,
            "digest": notice.digest,
            # What the customer pulls: a free tier, or a paid one (bought or in its trial).
            "customer": "free" if tier.is_free else "paid",
            "anonymous": not notice.actor,
            "registry_event": notice.event_id,
        },
    )


# Registry events are kept to recognise redeliveries (the registry retries from an in-memory queue
# for minutes, not days) and to pin promotions to the digest pushed before submission. Downloads
# themselves live in the audit log, which has its own retention.
EVENT_RETENTION_DAYS = 90
PURGE_BATCH = 5000


def registry_events_purge(*, retention_days: int | None = None, now: datetime | None = None) -> int:
    """Delete registry events received more than ``retention_days`` ago (REGISTRY_EVENT_RETENTION_DAYS,
    default 90), in batches so no long lock is held; how many were deleted.

    Revisions still in review should be decided well within the retention: once the push event
    behind a staging tag is purged, promotion copies what the tag points to at approval.
    """
    from django.conf import settings

    days = retention_days
    if days is None:
        days = int(getattr(settings, "REGISTRY_EVENT_RETENTION_DAYS", EVENT_RETENTION_DAYS))
    if days < 1:
        raise ValueError("Keep registry events at least a day: the registry redelivers for a while.")
    cutoff = (now or timezone.now()) - timedelta(days=days)
    deleted = 0
    while True:
        ids = list(
            RegistryEvent.objects.filter(received_at__lt=cutoff).values_list("pk", flat=True)[:PURGE_BATCH]
        )
        if not ids:
            return deleted
        deleted += RegistryEvent.objects.filter(pk__in=ids).delete()[0]


# ---------------------------------------------------------------------------------------------
# Promotion


class PromotionError(Exception):
    """An approved revision's images could not be copied; the message says which and why."""


def submitted_digest(*, revision: Revision, repository: str, tag: str) -> str:
    """The manifest digest ``repository:tag`` pointed to when ``revision`` was submitted, as the
    registry reported its push (the image that was scanned and reviewed), or "" if unknown."""
    if revision.submitted_at is None:
        return ""
    return (
        RegistryEvent.objects.filter(
            action="push",
            repository=repository,
            tag=tag,
            media_type__in=MANIFEST_MEDIA_TYPES,
            occurred_at__lte=revision.submitted_at,
        )
        .exclude(digest="")
        .order_by("-occurred_at", "-id")
        .values_list("digest", flat=True)
        .first()
        or ""
    )


def promote_revision(*, revision: Revision) -> None:
    """Copy each tier's staging image by digest to its customer-facing repository, then tag it.

    The image copied is the one that was reviewed: the digest the staging tag pointed to when the
    revision was submitted (the last manifest push to that tag the registry reported before
    submission; scans queued at submission read the same tag then). A push to the staging tag
    after submission does not change what goes live. Only when no push was recorded (events
    lost, or pushed before the store received events) is the tag resolved at approval; the audit
    event says which (``pinned``: "submission" or "approval").

    Every image is copied (by digest, invisible to customers) before any tag moves, so a failure
    on one tier leaves what customers pull untouched. Raises PromotionError with the reason.
    """
    tiers = list(revision.tiers.order_by("position", "id"))
    if not tiers:
        raise PromotionError("The revision has no tiers, so there is no image to publish.")
    product = revision.product
    copied: list[tuple[Tier, str, Manifest, str]] = []
    with RegistryClient() as client:
        for tier in tiers:
            label = f"Tier “{tier.name}”"
            if not tier.staging_source or not tier.repository:
                raise PromotionError(f"{label} needs a staging source and a customer-facing repository.")
            try:
                source, tag = split_reference(tier.staging_source)
            except ValidationError as exc:
                raise PromotionError(f"{label}: {' '.join(exc.messages)}") from None
            pinned = submitted_digest(revision=revision, repository=source, tag=tag)
            try:
                manifest = client.copy_image(
                    source=source, reference=pinned or tag, destination=tier.repository
                )
            except RegistryError as exc:
                what = (
                    f"{source}@{pinned} (pushed as {tier.staging_source})" if pinned else tier.staging_source
                )
                raise PromotionError(f"{label}: copying {what} failed: {exc}.") from exc
            copied.append((tier, source, manifest, "submission" if pinned else "approval"))
        for tier, _source, manifest, _pinned in copied:
            try:
                client.tag(repository=tier.repository, tag=tier.tag, manifest=manifest)
            except RegistryError as exc:
                raise PromotionError(
                    f"Tier “{tier.name}”: tagging {tier.repository}:{tier.tag} failed: {exc}."
                ) from exc
    for tier, source, manifest, pinned_at in copied:
        record(
            event_type=EventType.IMAGE_PROMOTED,
            publisher=product.publisher,
            target=product,
            data={
                "revision": revision.number,
                "tier": str(tier.key),
                "tier_name": tier.name,
                "source": f"{source}@{manifest.digest}",
                "repository": tier.repository,
                "tag": tier.tag,
                "digest": manifest.digest,
                "pinned": pinned_at,
            },
        )

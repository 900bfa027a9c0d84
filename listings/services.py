"""Writes to listings. Each one checks the state machine, writes its audit event in the same
transaction and queues email only after the transaction commits."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import connection, transaction
from django.db.models import Max, Value
from django.utils import timezone
from django.utils.text import slugify

from audit.models import EventType
from audit.services import record
from listings import workflow
from listings.models import (
    MANIFEST_FIELDS,
    Billing,
    CommentKind,
    Distribution,
    EngineCompatibility,
    Notification,
    Product,
    ProductStatus,
    ReviewComment,
    Revision,
    RevisionState,
    Screenshot,
    Subscription,
    Tier,
)
from listings.references import check_namespace
from publishers.validators import check_image

if TYPE_CHECKING:
    from accounts.models import User
    from publishers.models import Publisher

TIER_FIELDS = (
    "name",
    "description",
    "price",
    "currency",
    "billing",
    "trial_days",
    "licence_required",
    "staging_source",
    "repository",
)
PRODUCT_LOGO_MIN = 256
SCREENSHOT_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
SEARCH_CONFIG = "english"
UNSUBSCRIBE_SALT = "listings.unsubscribe"
# Addresses taken by the publisher pages themselves.
RESERVED_SLUGS = frozenset({"new"})


@dataclass
class TierChange:
    """One row of a tier edit: ``key`` names an existing tier, none makes a new one."""

    data: dict[str, Any] = field(default_factory=dict)
    key: uuid.UUID | None = None
    delete: bool = False


# ---------------------------------------------------------------------------------------------
# Rules shared by forms, the API and the services


def check_logo(file: Any) -> None:
    check_image(file, min_size=PRODUCT_LOGO_MIN, square=True)


def check_screenshot(file: Any) -> None:
    check_image(file, formats=SCREENSHOT_FORMATS)


def tier_problems(
    *, product: Product, data: dict[str, Any], key: uuid.UUID | None = None, locked_repository: str = ""
) -> dict[str, list[str]]:
    """What is wrong with tier ``data`` beyond single-field checks, by field."""
    problems: dict[str, list[str]] = {}
    namespace = product.publisher.namespace
    billing = data.get("billing")
    trial_days = data.get("trial_days") or 0
    if billing == Billing.ONE_OFF and trial_days:
        problems.setdefault("trial_days", []).append(
            "Trials apply only to monthly or yearly billing; a one-off purchase has no trial days."
        )
    price = data.get("price")
    if price is not None:
        try:
            if Decimal(str(price)) < 0:
                problems.setdefault("price", []).append("The price cannot be negative; use 0 for free.")
        except InvalidOperation:
            pass
    for name, what in (("staging_source", "staging source"), ("repository", "repository")):
        value = data.get(name) or ""
        try:
            check_namespace(value, namespace, what=what)
        except ValidationError as exc:
            problems.setdefault(name, []).extend(exc.messages)
    repository = data.get("repository") or ""
    if locked_repository and repository and repository != locked_repository:
        problems.setdefault("repository", []).append(
            f"This tier has been published to {locked_repository}; its repository can no longer change."
        )
    elif repository and (
        Tier.objects.filter(repository=repository).exclude(revision__product=product).exists()
    ):
        problems.setdefault("repository", []).append(
            f"{repository} is already used by another product; choose another name."
        )
    return problems


def missing_items(revision: Revision) -> list[str]:
    """Everything that stops ``revision`` from being submitted, all at once."""
    missing: list[str] = []
    required = [
        ("name", "a product name"),
        ("logo", "a product logo"),
        ("short_description", "a short description"),
        ("category_id", "a category"),
        ("long_description", "a long description"),
        ("support_url", "a support link"),
        ("installation_instructions", "installation instructions"),
        ("licence_url", "a link to the licence agreement"),
        ("engine_compatibility", "where the content runs (engine compatibility)"),
    ]
    for attr, label in required:
        if not getattr(revision, attr):
            missing.append(f"Add {label}.")
    if not revision.screenshots.exists():
        missing.append("Add at least one screenshot.")
    if revision.engine_compatibility == EngineCompatibility.UNSUPPORTED:
        missing.append(
            "Content that does not work on Certified Infrastructure cannot be published on the store."
        )
    tiers = list(revision.tiers.all())
    if not tiers:
        missing.append("Add at least one tier.")
    for tier in tiers:
        label = f"Tier “{tier.name}”"
        if not tier.description:
            missing.append(f"{label}: add a description.")
        if not tier.staging_source:
            missing.append(f"{label}: add the private staging source (namespace/repository:tag).")
        if not tier.repository:
            missing.append(f"{label}: add the customer-facing repository.")
        if revision.distribution == Distribution.FREE and tier.price > 0:
            missing.append(f"{label}: a free product cannot have a price; set it to 0 or choose paid.")
    if revision.distribution == Distribution.PAID and tiers and all(t.price == 0 for t in tiers):
        missing.append("A paid product needs at least one tier with a price.")
    if _has_paid_tier(revision, tiers) and not _payouts_enabled(revision.product.publisher):
        missing.append(PAYOUTS_REQUIRED)
    return missing


PAYOUTS_REQUIRED = (
    "Connect a Stripe account and finish its onboarding (Payouts) before a paid tier can go live."
)


def _has_paid_tier(revision: Revision, tiers: list[Tier] | None = None) -> bool:
    return any(t.price > 0 for t in (tiers if tiers is not None else revision.tiers.all()))


def _payouts_enabled(publisher: Publisher) -> bool:
    from billing.selectors import payouts_enabled  # billing's models import listings

    return payouts_enabled(publisher)


# ---------------------------------------------------------------------------------------------
# Products and drafts


def _unique_slug(publisher: Publisher, name: str) -> str:
    base = slugify(name)[:50] or "product"
    slug, n = base, 2
    while slug in RESERVED_SLUGS or Product.objects.filter(publisher=publisher, slug=slug).exists():
        slug, n = f"{base}-{n}", n + 1
    return slug


@transaction.atomic
def product_create(*, actor: User, publisher: Publisher, name: str, slug: str = "") -> Product:
    """A new product (never published) with an empty draft revision 1."""
    name = name.strip()
    if not name:
        raise ValidationError({"name": ["Give the product a name."]})
    if slug:
        slug = slug.strip().lower()
        if slug in RESERVED_SLUGS:
            raise ValidationError({"slug": [f"“{slug}” is reserved; choose another address."]})
        if slugify(slug) != slug:
            raise ValidationError({"slug": ["Use lowercase letters, digits and hyphens."]})
        if Product.objects.filter(publisher=publisher, slug=slug).exists():
            raise ValidationError({"slug": [f"You already have a product at “{slug}”."]})
    else:
        slug = _unique_slug(publisher, name)
    product = Product.objects.create(publisher=publisher, slug=slug, name=name, created_by=actor)
    Revision.objects.create(product=product, number=1, name=name, created_by=actor)
    record(
        event_type=EventType.LISTING_CREATED,
        actor=actor,
        publisher=publisher,
        target=product,
        data={"slug": slug, "name": name},
    )
    return product


def working_revision(product: Product) -> Revision | None:
    """The revision being written or reviewed, if any."""
    return (
        product.revisions.filter(
            state__in=[RevisionState.DRAFT, RevisionState.IN_REVIEW, RevisionState.CHANGES_REQUESTED]
        )
        .order_by("-number")
        .first()
    )


def _copy_revision(source: Revision, *, actor: User) -> Revision:
    number = (source.product.revisions.aggregate(n=Max("number"))["n"] or 0) + 1
    draft = Revision.objects.create(
        product=source.product,
        number=number,
        based_on=source,
        created_by=actor,
        **{name: getattr(source, name) for name in MANIFEST_FIELDS},
    )
    Tier.objects.bulk_create(
        Tier(
            revision=draft,
            key=tier.key,
            position=tier.position,
            repository_locked=tier.repository_locked or source.state == RevisionState.APPROVED,
            **{name: getattr(tier, name) for name in TIER_FIELDS},
        )
        for tier in source.tiers.all()
    )
    # Files are stored under random names and never overwritten, so copies can share them.
    Screenshot.objects.bulk_create(
        Screenshot(revision=draft, image=s.image.name, caption=s.caption, position=s.position)
        for s in source.screenshots.all()
    )
    return draft


def draft_for_edit(*, actor: User, product: Product) -> Revision:
    """The revision the publisher's next change goes to, copying the latest one when needed.

    Raises InvalidTransition while a revision is in review: it is frozen until moderators decide.
    Call inside a transaction that locks the product.
    """
    current = working_revision(product)
    if current is not None:
        workflow.check_editable(current.state)
        return current
    source = product.revisions.order_by("-number").first()
    if source is None:  # a product always has revision 1; this only guards against hand-made rows
        return Revision.objects.create(product=product, number=1, name=product.name, created_by=actor)
    return _copy_revision(source, actor=actor)


def _lock(product: Product) -> Product:
    locked = Product.objects.select_related("publisher").select_for_update(of=("self",)).get(pk=product.pk)
    return locked


def _default_repository(product: Product, tier_name: str, taken: set[str]) -> str:
    base = f"{product.publisher.namespace}/{product.slug}"
    if (
        base not in taken
        and not Tier.objects.filter(repository=base).exclude(revision__product=product).exists()
    ):
        return base
    candidate = f"{base}-{slugify(tier_name) or 'tier'}"
    n = 2
    while candidate in taken:
        candidate, n = f"{base}-{slugify(tier_name) or 'tier'}-{n}", n + 1
    return candidate


def _apply_tier_changes(*, product: Product, draft: Revision, changes: list[TierChange]) -> list[str]:
    """Apply tier edits to ``draft``; returns the names of tiers changed. Raises on bad input."""
    tiers = {tier.key: tier for tier in draft.tiers.all()}
    errors: dict[str, Any] = {}
    touched: list[Tier] = []
    for index, change in enumerate(changes):
        tier = tiers.get(change.key) if change.key else None
        if change.key and tier is None:
            errors[f"tiers[{index}]"] = ["This tier does not exist in the draft."]
            continue
        if change.delete:
            if tier is not None:
                tier.delete()
                tiers.pop(tier.key)
            continue
        if tier is None:
            tier = Tier(revision=draft, position=len(tiers) + index)
        for name, value in change.data.items():
            if name in TIER_FIELDS:
                setattr(tier, name, value)
        touched.append(tier)
    taken: set[str] = {t.repository for t in tiers.values() if t.repository}
    for index, tier in enumerate(touched):
        if not tier.repository:
            tier.repository = _default_repository(product, tier.name, taken)
        taken.add(tier.repository)
        data = {name: getattr(tier, name) for name in TIER_FIELDS}
        locked = ""
        if tier.pk and tier.repository_locked:
            locked = Tier.objects.filter(pk=tier.pk).values_list("repository", flat=True).first() or ""
        problems = tier_problems(product=product, data=data, key=tier.key, locked_repository=locked)
        try:
            tier.full_clean(exclude=["revision", "key"])
        except ValidationError as exc:
            for name, messages in exc.message_dict.items():
                problems.setdefault(name, []).extend(m for m in messages if m not in problems.get(name, []))
        if problems:
            errors[tier.name or f"tiers[{index}]"] = problems
    repositories = [t.repository for t in tiers.values() if t not in touched] + [
        t.repository for t in touched
    ]
    duplicates = {r for r in repositories if repositories.count(r) > 1}
    if duplicates:
        errors["repository"] = [
            f"Each tier needs its own repository; {', '.join(sorted(duplicates))} is used twice."
        ]
    if errors:
        raise ValidationError(_flatten_tier_errors(errors))
    for tier in touched:
        tier.save()
    return [tier.name for tier in touched]


def _flatten_tier_errors(errors: dict[str, Any]) -> dict[str, list[str]]:
    flat: dict[str, list[str]] = {}
    for label, problems in errors.items():
        if isinstance(problems, dict):
            for name, messages in problems.items():
                flat.setdefault(name, []).extend(f"Tier “{label}”: {m}" for m in messages)
        else:
            flat.setdefault(label, []).extend(problems)
    return flat


@transaction.atomic
def revision_save(
    *,
    actor: User,
    product: Product,
    changes: dict[str, Any] | None = None,
    tiers: list[TierChange] | None = None,
) -> Revision:
    """Save manifest and tier edits to the product's draft (made from the latest revision if needed).

    A draft may be incomplete; submission checks completeness. Nothing is written when any field
    or tier is wrong, and the ValidationError names each one.
    """
    product = _lock(product)
    draft = draft_for_edit(actor=actor, product=product)
    changes = {k: v for k, v in (changes or {}).items() if k in MANIFEST_FIELDS}
    logo = changes.get("logo")
    if isinstance(logo, UploadedFile):
        try:
            check_logo(logo)
        except ValidationError as exc:
            raise ValidationError({"logo": exc.messages}) from None
    for name, value in changes.items():
        setattr(draft, name, value if value is not None or name == "category" else "")
    draft.full_clean(exclude=["product", "number", "state", "based_on"])
    draft.save()
    changed_tiers = _apply_tier_changes(product=product, draft=draft, changes=tiers or [])
    record(
        event_type=EventType.LISTING_DRAFT_SAVED,
        actor=actor,
        publisher=product.publisher,
        target=product,
        data={"revision": draft.number, "fields": sorted(changes), "tiers": changed_tiers},
    )
    return draft


def tier_create(*, actor: User, product: Product, data: dict[str, Any]) -> Tier:
    draft = revision_save(actor=actor, product=product, tiers=[TierChange(data=data)])
    tier = draft.tiers.order_by("-id").first()
    assert tier is not None
    return tier


def tier_update(*, actor: User, product: Product, key: uuid.UUID, data: dict[str, Any]) -> Tier:
    draft = revision_save(actor=actor, product=product, tiers=[TierChange(key=key, data=data)])
    return draft.tiers.get(key=key)


def tier_delete(*, actor: User, product: Product, key: uuid.UUID) -> None:
    revision_save(actor=actor, product=product, tiers=[TierChange(key=key, delete=True)])


@transaction.atomic
def screenshot_add(*, actor: User, product: Product, image: Any, caption: str = "") -> Screenshot:
    try:
        check_screenshot(image)
    except ValidationError as exc:
        raise ValidationError({"image": exc.messages}) from None
    product = _lock(product)
    draft = draft_for_edit(actor=actor, product=product)
    position = (draft.screenshots.aggregate(p=Max("position"))["p"] or 0) + 1
    screenshot = Screenshot.objects.create(revision=draft, image=image, caption=caption, position=position)
    record(
        event_type=EventType.LISTING_DRAFT_SAVED,
        actor=actor,
        publisher=product.publisher,
        target=product,
        data={"revision": draft.number, "screenshots": "added"},
    )
    return screenshot


def _draft_screenshots(draft: Revision, source_ids: list[int]) -> list[Screenshot]:
    """Screenshots of ``draft`` matching ids that may belong to the revision the draft was copied from."""
    screenshots = list(draft.screenshots.all())
    by_id = {s.pk: s for s in screenshots}
    if all(pk in by_id for pk in source_ids):
        return [by_id[pk] for pk in source_ids]
    # The ids came from the live revision; the fresh copy keeps their order.
    source = list(Screenshot.objects.filter(revision=draft.based_on_id).order_by("position", "id"))
    mapping = {old.pk: new for old, new in zip(source, screenshots, strict=False)}
    return [mapping[pk] for pk in source_ids if pk in mapping]


@transaction.atomic
def screenshot_reorder(*, actor: User, product: Product, order: list[int]) -> list[Screenshot]:
    """Put the draft's screenshots in ``order`` (ids); ones not named keep their place after."""
    product = _lock(product)
    draft = draft_for_edit(actor=actor, product=product)
    wanted = _draft_screenshots(draft, order)
    rest = [s for s in draft.screenshots.all() if s not in wanted]
    for position, screenshot in enumerate([*wanted, *rest], start=1):
        if screenshot.position != position:
            screenshot.position = position
            screenshot.save(update_fields=["position"])
    record(
        event_type=EventType.LISTING_DRAFT_SAVED,
        actor=actor,
        publisher=product.publisher,
        target=product,
        data={"revision": draft.number, "screenshots": "reordered"},
    )
    return [*wanted, *rest]


@transaction.atomic
def screenshot_delete(*, actor: User, product: Product, screenshot_id: int) -> None:
    product = _lock(product)
    draft = draft_for_edit(actor=actor, product=product)
    for screenshot in _draft_screenshots(draft, [screenshot_id]):
        screenshot.delete()
    record(
        event_type=EventType.LISTING_DRAFT_SAVED,
        actor=actor,
        publisher=product.publisher,
        target=product,
        data={"revision": draft.number, "screenshots": "removed"},
    )


# ---------------------------------------------------------------------------------------------
# The workflow


def _comment(
    *, product: Product, revision: Revision | None, actor: User | None, kind: str, body: str, moderator: bool
) -> ReviewComment:
    return ReviewComment.objects.create(
        product=product, revision=revision, author=actor, kind=kind, body=body, from_moderator=moderator
    )


@transaction.atomic
def revision_submit(*, actor: User, product: Product, message: str = "") -> Revision:
    """Send the draft to the moderators. Refused, listing every missing item, when incomplete."""
    product = _lock(product)
    revision = working_revision(product)
    if revision is None:
        raise workflow.InvalidTransition(
            "There is no draft to submit; edit the product first.", code="invalid_transition"
        )
    target = workflow.revision_target("submit", revision.state)
    if product.status == ProductStatus.REVOKED:
        raise workflow.InvalidTransition(
            "A revoked product cannot be submitted again.", code="invalid_transition"
        )
    missing = missing_items(revision)
    if missing:
        raise ValidationError(["Complete these before submitting:", *missing], code="incomplete")
    now = timezone.now()
    revision.state = target
    revision.submitted_at = now
    revision.submitted_by = actor
    revision.save(update_fields=["state", "submitted_at", "submitted_by", "updated_at"])
    _comment(
        product=product,
        revision=revision,
        actor=actor,
        kind=CommentKind.SUBMITTED,
        body=message.strip(),
        moderator=False,
    )
    record(
        event_type=EventType.LISTING_SUBMITTED,
        actor=actor,
        publisher=product.publisher,
        target=product,
        data={"revision": revision.number},
    )
    # Each tier's staging image is scanned (queued on commit) so the review shows the results.
    from scanning.services import scans_request_for_revision  # scanning's models import listings

    scans_request_for_revision(revision=revision, requested_by=actor)
    return revision


def _search_vector(product: Product, revision: Revision) -> Any:
    from django.contrib.postgres.search import SearchVector

    def part(text: str, weight: str) -> SearchVector:
        return SearchVector(Value(text), weight=weight, config=SEARCH_CONFIG)

    publisher = product.publisher
    return (
        part(revision.name, "A")
        + part(" ".join(revision.tag_list), "B")
        + part(revision.short_description, "C")
        + part(f"{revision.long_description} {publisher.legal_name} {publisher.namespace}", "D")
    )


def changed_images(previous: Revision | None, revision: Revision) -> list[Tier]:
    """Tiers of ``revision`` whose image differs from the same tier in ``previous``."""
    if previous is None:
        return []
    before = {tier.key: tier.staging_source for tier in previous.tiers.all()}
    return [
        tier
        for tier in revision.tiers.all()
        if tier.key in before and before[tier.key] != tier.staging_source
    ]


def _decide(revision: Revision, *, actor: User, transition: str) -> tuple[Revision, Product]:
    revision = Revision.objects.select_for_update().get(pk=revision.pk)
    product = _lock(revision.product)
    revision.state = workflow.revision_target(transition, revision.state)
    revision.decided_at = timezone.now()
    revision.decided_by = actor
    return revision, product


@transaction.atomic
def revision_approve(*, actor: User, revision: Revision, message: str = "") -> Revision:
    """Make ``revision`` live; the one it replaces is superseded. Subscribers hear about new images."""
    from billing import tasks as billing_tasks
    from listings import tasks
    from registry.services import PromotionError, promote_revision

    if _has_paid_tier(revision) and not _payouts_enabled(revision.product.publisher):
        raise ValidationError(PAYOUTS_REQUIRED, code="payouts_required")
    revision, product = _decide(revision, actor=actor, transition="approve")
    if settings.REGISTRY_URL:
        # Images are copied by digest before anything goes live; a failure rolls the decision
        # back, so the revision stays in review and the moderator sees why.
        try:
            promote_revision(revision=revision)
        except PromotionError as exc:
            raise ValidationError(
                f"The images could not be published, so the revision stays in review: {exc}",
                code="promotion_failed",
            ) from exc
    product.status = workflow.product_target("publish", product.status)
    previous = product.live_revision
    if previous is not None:
        previous.state = workflow.revision_target("supersede", previous.state)
        previous.save(update_fields=["state", "updated_at"])
    revision.save(update_fields=["state", "decided_at", "decided_by", "updated_at"])
    revision.tiers.update(repository_locked=True)
    now = timezone.now()
    product.live_revision = revision
    product.name = revision.name
    product.category = revision.category
    product.kind = revision.kind
    product.distribution = revision.distribution
    product.first_published_at = product.first_published_at or now
    product.live_since = now
    product.save()
    if connection.vendor == "postgresql":
        Product.objects.filter(pk=product.pk).update(search_vector=_search_vector(product, revision))
    comment = _comment(
        product=product,
        revision=revision,
        actor=actor,
        kind=CommentKind.APPROVED,
        body=message.strip(),
        moderator=True,
    )
    updated = changed_images(previous, revision)
    record(
        event_type=EventType.LISTING_APPROVED,
        actor=actor,
        publisher=product.publisher,
        target=product,
        data={
            "revision": revision.number,
            "message": message.strip(),
            "images_changed": [t.name for t in updated],
        },
    )
    transaction.on_commit(lambda: tasks.send_review_decision.delay(comment.pk))
    transaction.on_commit(lambda: billing_tasks.sync_catalog.delay(revision.pk))
    if updated:
        transaction.on_commit(lambda: tasks.notify_subscribers.delay(revision.pk))
    return revision


def _required_message(message: str, text: str) -> str:
    message = message.strip()
    if not message:
        raise ValidationError({"message": [text]}, code="required")
    return message


def _send_back(
    revision: Revision,
    *,
    actor: User,
    message: str,
    transition: str,
    kind: CommentKind,
    event_type: EventType,
    why: str,
) -> Revision:
    """A moderator's decision that needs a message for the publisher (emailed to them)."""
    from listings import tasks

    revision, product = _decide(revision, actor=actor, transition=transition)
    message = _required_message(message, why)
    revision.save(update_fields=["state", "decided_at", "decided_by", "updated_at"])
    comment = _comment(
        product=product, revision=revision, actor=actor, kind=kind, body=message, moderator=True
    )
    record(
        event_type=event_type,
        actor=actor,
        publisher=product.publisher,
        target=product,
        data={"revision": revision.number, "message": message},
    )
    transaction.on_commit(lambda: tasks.send_review_decision.delay(comment.pk))
    return revision


@transaction.atomic
def revision_request_changes(*, actor: User, revision: Revision, message: str) -> Revision:
    """Send ``revision`` back to the publisher with ``message`` (required), emailed to them."""
    return _send_back(
        revision,
        actor=actor,
        message=message,
        transition="request_changes",
        kind=CommentKind.CHANGES_REQUESTED,
        event_type=EventType.LISTING_CHANGES_REQUESTED,
        why="Say what needs to change; the publisher receives this message.",
    )


@transaction.atomic
def revision_reject(*, actor: User, revision: Revision, message: str) -> Revision:
    """Refuse ``revision`` for good, saying why; the live revision, if any, stays up."""
    return _send_back(
        revision,
        actor=actor,
        message=message,
        transition="reject",
        kind=CommentKind.REJECTED,
        event_type=EventType.LISTING_REJECTED,
        why="Say why the listing is rejected; the publisher receives this message.",
    )


@transaction.atomic
def product_unpublish(*, actor: User, product: Product, reason: str = "") -> Product:
    """Take the listing out of the catalog. Customers' licences are untouched."""
    product = _lock(product)
    product.status = workflow.product_target("unpublish", product.status)
    product.save(update_fields=["status", "updated_at"])
    _comment(
        product=product,
        revision=product.live_revision,
        actor=actor,
        kind=CommentKind.UNPUBLISHED,
        body=reason.strip(),
        moderator=False,
    )
    record(
        event_type=EventType.LISTING_UNPUBLISHED,
        actor=actor,
        publisher=product.publisher,
        target=product,
        data={"reason": reason.strip()},
    )
    return product


def _moderate_product(
    *, actor: User | None, product: Product, transition: str, event: EventType, reason: str
) -> Product:
    product = _lock(product)
    product.status = workflow.product_target(transition, product.status)
    product.save(update_fields=["status", "updated_at"])
    record(
        event_type=event, actor=actor, publisher=product.publisher, target=product, data={"reason": reason}
    )
    return product


@transaction.atomic
def product_hold(*, actor: User | None, product: Product, reason: str) -> Product:
    """Put a published listing on hold (it stays visible with a warning label)."""
    return _moderate_product(
        actor=actor, product=product, transition="hold", event=EventType.LISTING_HELD, reason=reason
    )


@transaction.atomic
def product_lift_hold(*, actor: User | None, product: Product, reason: str) -> Product:
    return _moderate_product(
        actor=actor,
        product=product,
        transition="lift_hold",
        event=EventType.LISTING_HOLD_LIFTED,
        reason=reason,
    )


@transaction.atomic
def product_revoke(*, actor: User | None, product: Product, reason: str) -> Product:
    return _moderate_product(
        actor=actor, product=product, transition="revoke", event=EventType.LISTING_REVOKED, reason=reason
    )


@transaction.atomic
def review_comment_add(*, actor: User, product: Product, body: str, from_moderator: bool) -> ReviewComment:
    """Add a message to the product's review thread."""
    body = body.strip()
    if not body:
        raise ValidationError({"body": ["Write a message first."]})
    comment = _comment(
        product=product,
        revision=working_revision(product) or product.live_revision,
        actor=actor,
        kind=CommentKind.COMMENT,
        body=body,
        moderator=from_moderator,
    )
    record(
        event_type=EventType.LISTING_COMMENTED,
        actor=actor,
        publisher=product.publisher,
        target=product,
        data={"comment": comment.pk, "from_moderator": from_moderator},
    )
    return comment


# ---------------------------------------------------------------------------------------------
# Subscriptions and notifications


def subscription_create(*, user: User, product: Product) -> Subscription:
    subscription, _ = Subscription.objects.get_or_create(user=user, product=product)
    return subscription


def subscription_delete(*, user_id: int, product_id: int) -> bool:
    deleted, _ = Subscription.objects.filter(user_id=user_id, product_id=product_id).delete()
    return bool(deleted)


def unsubscribe_token(subscription: Subscription) -> str:
    return signing.dumps({"u": subscription.user_id, "p": subscription.product_id}, salt=UNSUBSCRIBE_SALT)


def unsubscribe_with_token(*, token: str) -> Product | None:
    """Delete the subscription named by a signed ``token``; None when the token is not ours."""
    try:
        data = signing.loads(token, salt=UNSUBSCRIBE_SALT)
    except signing.BadSignature:
        return None
    subscription_delete(user_id=int(data["u"]), product_id=int(data["p"]))
    return Product.objects.select_related("publisher").filter(pk=int(data["p"])).first()


def notifications_mark_read(*, user: User) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).update(read_at=timezone.now())

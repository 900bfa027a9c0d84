"""Products (listings), their revisions, tiers, screenshots, the review thread and subscriptions.

The manifest lives on ``Revision`` so a publisher can edit a copy while the live one stays up.
``Product`` keeps the few live values the catalog filters and sorts on (name, category, kind,
distribution, the search vector); only the publishing service writes them.
"""

from __future__ import annotations

import secrets
import uuid
from decimal import Decimal

from django.conf import settings
from django.contrib.postgres.search import SearchVectorField
from django.core.validators import MinValueValidator
from django.db import models
from django.urls import reverse
from django.utils import timezone

from listings.references import validate_reference, validate_repository


class Category(models.Model):
    slug = models.SlugField(max_length=60, unique=True)
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=200, blank=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "name"]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.name


class Kind(models.TextChoices):
    CONTAINER = "container", "Container"
    PLUGIN = "plugin", "Plugin"


class Distribution(models.TextChoices):
    FREE = "free", "Free"
    PAID = "paid", "Paid via the store"


class AccessPolicy(models.TextChoices):
    EVERYONE = "everyone", "Everyone"
    LOGGED_IN = "logged_in", "Logged-in users"
    LICENCE_HOLDERS = "licence_holders", "Licence holders"


class EngineCompatibility(models.TextChoices):
    """The permitted-content table of the publisher guide."""

    CERTIFIED = "certified", "Works on Certified Infrastructure (enterprise engine)"
    COMMUNITY = "community", "Works on the community engine only"
    UNSUPPORTED = "unsupported", "Does not work on Certified Infrastructure"


class ProductStatus(models.TextChoices):
    DRAFT = "draft", "Never published"
    PUBLISHED = "published", "Published"
    UNPUBLISHED = "unpublished", "Unpublished"
    ON_HOLD = "on_hold", "On hold"
    REVOKED = "revoked", "Revoked"


class RevisionState(models.TextChoices):
    DRAFT = "draft", "Draft"
    IN_REVIEW = "in_review", "In review"
    CHANGES_REQUESTED = "changes_requested", "Changes requested"
    APPROVED = "approved", "Approved"
    SUPERSEDED = "superseded", "Superseded"
    REJECTED = "rejected", "Rejected"


class Billing(models.TextChoices):
    ONE_OFF = "one_off", "One-off"
    MONTHLY = "monthly", "Monthly"
    YEARLY = "yearly", "Yearly"


class Currency(models.TextChoices):
    USD = "USD", "US dollar"
    EUR = "EUR", "Euro"
    GBP = "GBP", "Pound sterling"


def _upload_path(kind: str, revision: Revision, filename: str) -> str:
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else "img"
    product = revision.product
    return f"listings/{product.publisher.namespace}/{product.slug}/{kind}-{secrets.token_hex(6)}.{ext}"


def logo_path(instance: Revision, filename: str) -> str:
    return _upload_path("logo", instance, filename)


def screenshot_path(instance: Screenshot, filename: str) -> str:
    return _upload_path("screenshot", instance.revision, filename)


# Every manifest item a publisher edits on a revision. Tuples: Django formsets append to Meta.fields.
MANIFEST_FIELDS = (
    "name",
    "logo",
    "short_description",
    "category",
    "tags",
    "long_description",
    "support_url",
    "installation_instructions",
    "licence_url",
    "distribution",
    "access_policy",
    "kind",
    "engine_compatibility",
)


class Product(models.Model):
    publisher = models.ForeignKey("publishers.Publisher", on_delete=models.CASCADE, related_name="products")
    slug = models.SlugField(max_length=60, help_text="Part of the product's address; it cannot change.")
    status = models.CharField(max_length=20, choices=ProductStatus.choices, default=ProductStatus.DRAFT)
    live_revision = models.ForeignKey(
        "Revision", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Live values the catalog filters on, written only by the publishing service.
    name = models.CharField(max_length=100)
    category = models.ForeignKey(Category, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.CONTAINER)
    distribution = models.CharField(max_length=10, choices=Distribution.choices, default=Distribution.FREE)
    is_certified = models.BooleanField(default=False, help_text="Set by the certification programme.")
    is_featured = models.BooleanField(default=False, help_text="Shown on the home page.")
    search_vector = SearchVectorField(null=True, blank=True, editable=False)
    first_published_at = models.DateTimeField(null=True, blank=True)
    live_since = models.DateTimeField(null=True, blank=True)

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["publisher", "slug"], name="product_unique_slug"),
        ]
        indexes = [
            models.Index(fields=["status", "first_published_at"], name="product_status_new"),
            models.Index(fields=["status", "name"], name="product_status_name"),
            models.Index(fields=["status", "category"], name="product_status_category"),
        ]
        # GIN indexes on search_vector and on name (trigram) are made by migration 0003 on PostgreSQL.

    def __str__(self) -> str:
        return f"{self.publisher.namespace}/{self.slug}"

    def get_absolute_url(self) -> str:
        return reverse("listings:product", args=[self.publisher.namespace, self.slug])

    def get_manage_url(self) -> str:
        return reverse("listings:manage", args=[self.publisher.namespace, self.slug])

    @property
    def is_visible(self) -> bool:
        """Customers see published listings and, with a warning label, listings on hold."""
        return self.status in (ProductStatus.PUBLISHED, ProductStatus.ON_HOLD) and bool(self.live_revision_id)


class Revision(models.Model):
    """One version of a product's manifest. Publishers edit drafts; moderators decide."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField()
    state = models.CharField(max_length=20, choices=RevisionState.choices, default=RevisionState.DRAFT)
    based_on = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    name = models.CharField("product name", max_length=100, blank=True)
    logo = models.ImageField(
        "product logo", upload_to=logo_path, blank=True, help_text="Square PNG, JPEG or WebP."
    )
    short_description = models.CharField(
        max_length=140, blank=True, help_text="One or two sentences; at most 140 characters."
    )
    category = models.ForeignKey(Category, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    tags = models.CharField(
        "search tags", max_length=300, blank=True, help_text="Comma-separated, e.g. sql, database, postgres."
    )
    long_description = models.TextField(blank=True, help_text="Markdown: the product details and pitch.")
    support_url = models.URLField("support link", max_length=300, blank=True)
    installation_instructions = models.TextField(blank=True, help_text="Markdown.")
    licence_url = models.URLField("link to the licence agreement", max_length=300, blank=True)
    distribution = models.CharField(max_length=10, choices=Distribution.choices, default=Distribution.FREE)
    access_policy = models.CharField(
        "who may pull", max_length=20, choices=AccessPolicy.choices, default=AccessPolicy.EVERYONE
    )
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.CONTAINER)
    engine_compatibility = models.CharField(
        max_length=20, choices=EngineCompatibility.choices, blank=True, help_text="Where your content runs."
    )

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    submitted_at = models.DateTimeField(null=True, blank=True, db_index=True)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["product", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["product", "number"], name="revision_unique_number"),
        ]
        indexes = [models.Index(fields=["state", "submitted_at"], name="revision_queue")]
        permissions = [("moderate_revision", "Can approve, request changes to and reject listings")]

    def __str__(self) -> str:
        return f"{self.product} revision {self.number}"

    @property
    def tag_list(self) -> list[str]:
        return [tag.strip().lower() for tag in self.tags.split(",") if tag.strip()]

    @property
    def is_certification_eligible(self) -> bool:
        return self.engine_compatibility == EngineCompatibility.CERTIFIED


class Tier(models.Model):
    """A way to get the product: price, billing, and the image it ships."""

    revision = models.ForeignKey(Revision, on_delete=models.CASCADE, related_name="tiers")
    # The same tier across revisions: copies keep the key.
    key = models.UUIDField(default=uuid.uuid4, editable=False)
    position = models.PositiveSmallIntegerField(default=0)
    name = models.CharField("tier name", max_length=80)
    description = models.TextField("tier description", blank=True)
    price = models.DecimalField(
        max_digits=10,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0"), message="The price cannot be negative; use 0 for free.")],
        help_text="0 means free.",
    )
    currency = models.CharField(max_length=3, choices=Currency.choices, default=Currency.USD)
    billing = models.CharField(max_length=10, choices=Billing.choices, default=Billing.MONTHLY)
    trial_days = models.PositiveSmallIntegerField(default=0, help_text="Only for monthly or yearly billing.")
    licence_required = models.BooleanField(
        "customers must accept the licence", default=True, help_text="Before they can pull."
    )
    staging_source = models.CharField(
        "private staging source",
        max_length=255,
        blank=True,
        validators=[validate_reference],
        help_text="namespace/repository:tag in your staging namespace; never shown to customers.",
    )
    repository = models.CharField(
        "customer-facing repository",
        max_length=255,
        blank=True,
        validators=[validate_repository],
        help_text="Where customers pull from. Editable until the tier is first published.",
    )
    repository_locked = models.BooleanField(default=False, editable=False)

    class Meta:
        ordering = ["revision", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["revision", "key"], name="tier_unique_key"),
        ]
        indexes = [models.Index(fields=["repository"], name="tier_repository")]

    def __str__(self) -> str:
        return f"{self.name} ({self.revision})"

    @property
    def is_free(self) -> bool:
        return self.price == 0

    @property
    def tag(self) -> str:
        """The tag customers pull: the staging source's tag."""
        if ":" in self.staging_source.rsplit("/", 1)[-1]:
            return self.staging_source.rsplit(":", 1)[1]
        return "latest"

    @property
    def action(self) -> str:
        if not self.is_free:
            return "Start trial" if self.trial_days else "Buy"
        return "Get"


class Screenshot(models.Model):
    revision = models.ForeignKey(Revision, on_delete=models.CASCADE, related_name="screenshots")
    image = models.ImageField(upload_to=screenshot_path)
    caption = models.CharField(max_length=200, blank=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["revision", "position", "id"]

    def __str__(self) -> str:
        return self.caption or str(self.image.name)


class CommentKind(models.TextChoices):
    COMMENT = "comment", "Comment"
    SUBMITTED = "submitted", "Submitted for review"
    APPROVED = "approved", "Approved"
    CHANGES_REQUESTED = "changes_requested", "Changes requested"
    REJECTED = "rejected", "Rejected"
    UNPUBLISHED = "unpublished", "Unpublished"


class ReviewComment(models.Model):
    """One entry of a product's review thread: a message or a decision, with who wrote it."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="comments")
    revision = models.ForeignKey(Revision, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    from_moderator = models.BooleanField(default=False)
    kind = models.CharField(max_length=20, choices=CommentKind.choices, default=CommentKind.COMMENT)
    body = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["product", "created_at", "id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on {self.product}"


class Subscription(models.Model):
    """A customer who wants to hear when a product's images change."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="subscriptions")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "product"], name="subscription_unique")]

    def __str__(self) -> str:
        return f"{self.user} follows {self.product}"


class Notification(models.Model):
    """An in-app message to one user."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    product = models.ForeignKey(Product, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "read_at"], name="notification_unread")]

    def __str__(self) -> str:
        return self.title

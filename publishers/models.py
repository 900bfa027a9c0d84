"""Publishers (the store's tenants), their members and invitations."""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.urls import reverse
from django.utils import timezone

from publishers.validators import (
    validate_logo,
    validate_namespace,
    validate_phone,
    validate_self_help_links,
)


class Role(models.TextChoices):
    """Ordered from most to least powerful; ``Role.rank`` compares them."""

    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    EDITOR = "editor", "Editor"
    VIEWER = "viewer", "Viewer"

    @property
    def rank(self) -> int:
        return {"owner": 4, "admin": 3, "editor": 2, "viewer": 1}[self.value]

    def at_least(self, other: Role) -> bool:
        return self.rank >= other.rank


class OnboardingStep(models.IntegerChoices):
    """The onboarding form's steps. A publisher exists from the end of the first one."""

    PROFILE = 1, "Company profile"
    SUPPORT = 2, "Support and SLA"
    MEMBERS = 3, "Invite members"


def logo_path(instance: Publisher, filename: str) -> str:
    ext = filename.rsplit(".", 1)[-1].lower()
    return f"publishers/{instance.namespace}/logo-{secrets.token_hex(6)}.{ext}"


class Publisher(models.Model):
    """A company that lists images on the store. ``namespace`` is its registry namespace."""

    namespace = models.CharField(
        max_length=30,
        unique=True,
        validators=[validate_namespace],
        help_text="Lowercase letters, digits and single separators (. _ -); 2 to 30 characters. "
        "Your repositories will be published under it and it cannot be changed later.",
    )
    legal_name = models.CharField("legal entity name", max_length=200)
    website = models.URLField("company website", max_length=300)
    phone = models.CharField(
        "phone number",
        max_length=32,
        validators=[validate_phone],
        help_text="International format, e.g. +1 415 555 0100.",
    )
    company_email = models.EmailField("company email")
    logo = models.ImageField(
        upload_to=logo_path,
        validators=[validate_logo],
        help_text="Square PNG, JPEG or WebP, at least 512x512 pixels.",
    )
    story = models.TextField("company story", blank=True, help_text="Who you are and what you do.")

    support_website = models.URLField(max_length=300, blank=True)
    support_email = models.EmailField(blank=True)
    self_help_links = models.TextField(
        blank=True,
        validators=[validate_self_help_links],
        help_text="Documentation or troubleshooting links, one URL per line.",
    )
    support_hours = models.CharField(
        max_length=200, blank=True, help_text="e.g. Monday to Friday, 09:00-18:00 CET."
    )
    response_times = models.TextField(
        "response-time expectations",
        blank=True,
        help_text="What customers can expect, e.g. critical issues answered within 4 hours.",
    )

    # The step a person left the onboarding form on, so they come back to it; meaningless once
    # onboarding_completed_at is set.
    onboarding_step = models.PositiveSmallIntegerField(
        choices=OnboardingStep.choices, default=OnboardingStep.SUPPORT
    )
    onboarding_completed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="publishers"
    )

    class Meta:
        ordering = ["namespace"]

    def __str__(self) -> str:
        return self.legal_name or self.namespace

    def get_absolute_url(self) -> str:
        return reverse("publishers:dashboard", args=[self.namespace])

    @property
    def is_onboarded(self) -> bool:
        return self.onboarding_completed_at is not None

    def get_onboarding_url(self) -> str:
        """Where the person left the onboarding form."""
        if self.onboarding_step == OnboardingStep.MEMBERS:
            return reverse("publishers:onboarding_members", args=[self.namespace])
        return reverse("publishers:onboarding_support", args=[self.namespace])

    @property
    def self_help_link_list(self) -> list[str]:
        return [line.strip() for line in self.self_help_links.splitlines() if line.strip()]


class Membership(models.Model):
    publisher = models.ForeignKey(Publisher, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["publisher", "user__email"]
        constraints = [models.UniqueConstraint(fields=["publisher", "user"], name="membership_unique_user")]

    def __str__(self) -> str:
        return f"{self.user} is {self.role} of {self.publisher.namespace}"

    @property
    def role_enum(self) -> Role:
        return Role(self.role)


def hash_invitation_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class InvitationQuerySet(models.QuerySet["Invitation"]):
    def pending(self) -> InvitationQuerySet:
        return self.filter(accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now())


class Invitation(models.Model):
    """An emailed invitation to join a publisher. Only the token's hash is stored."""

    publisher = models.ForeignKey(Publisher, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(
        max_length=10,
        choices=Role.choices,
        default=Role.EDITOR,
        validators=[RegexValidator(r"^(admin|editor|viewer|owner)$")],
    )
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = InvitationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["publisher", "email"],
                condition=models.Q(accepted_at__isnull=True, revoked_at__isnull=True),
                name="invitation_unique_pending_email",
            )
        ]

    def __str__(self) -> str:
        return f"{self.email} to {self.publisher.namespace} as {self.role}"

    @property
    def is_expired(self) -> bool:
        return self.expires_at <= timezone.now()

    @property
    def is_pending(self) -> bool:
        return self.accepted_at is None and self.revoked_at is None and not self.is_expired

    @staticmethod
    def generate_token() -> str:
        return secrets.token_urlsafe(32)

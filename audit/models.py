"""The append-only audit log.

PostgreSQL enforces append-only with a trigger (migration 0002): UPDATE is always refused, DELETE
only inside ``audit.services.purge_before`` for events older than the retention period (which may
not be under 180 days). Actor and publisher are kept as plain ids plus a snapshot of their names,
without database foreign keys, so deleting a user never has to touch (update) the log.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class EventType(models.TextChoices):
    # accounts
    USER_SIGNED_UP = "user.signed_up", "User signed up"
    USER_EMAIL_VERIFIED = "user.email_verified", "Email verified"
    USER_PASSWORD_RESET = "user.password_reset", "Password reset"
    TOKEN_CREATED = "token.created", "Access token created"
    TOKEN_REVOKED = "token.revoked", "Access token revoked"
    # publishers
    PUBLISHER_CREATED = "publisher.created", "Publisher created"
    PUBLISHER_PROFILE_CHANGED = "publisher.profile_changed", "Publisher profile changed"
    PUBLISHER_ONBOARDED = "publisher.onboarded", "Publisher onboarding completed"
    MEMBER_INVITED = "member.invited", "Member invited"
    INVITATION_REVOKED = "member.invitation_revoked", "Invitation revoked"
    MEMBER_JOINED = "member.joined", "Member joined"
    MEMBER_REMOVED = "member.removed", "Member removed"
    MEMBER_ROLE_CHANGED = "member.role_changed", "Member role changed"
    # listings
    LISTING_CREATED = "listing.created", "Listing created"
    LISTING_DRAFT_SAVED = "listing.draft_saved", "Listing draft saved"
    LISTING_SUBMITTED = "listing.submitted", "Listing submitted for review"
    LISTING_COMMENTED = "listing.commented", "Listing review comment"
    LISTING_UNPUBLISHED = "listing.unpublished", "Listing unpublished"
    # moderation decisions
    LISTING_APPROVED = "listing.approved", "Listing approved"
    LISTING_CHANGES_REQUESTED = "listing.changes_requested", "Listing changes requested"
    LISTING_REJECTED = "listing.rejected", "Listing rejected"
    LISTING_HELD = "listing.held", "Listing put on hold"
    LISTING_HOLD_LIFTED = "listing.hold_lifted", "Listing hold lifted"
    LISTING_REVOKED = "listing.revoked", "Listing revoked"
    # registry
    DOWNLOAD = "registry.download", "Image downloaded"
    IMAGE_PROMOTED = "registry.image_promoted", "Image promoted to its customer-facing repository"
    # billing: licences, money and payouts
    LICENCE_GRANTED = "licence.granted", "Licence granted"
    LICENCE_STATUS_CHANGED = "licence.status_changed", "Licence status changed"
    LICENCE_CANCEL_REQUESTED = "licence.cancel_requested", "Licence cancellation requested"
    LICENCE_TRIAL_ENDING = "licence.trial_ending", "Licence trial ending soon"
    CHECKOUT_STARTED = "billing.checkout_started", "Checkout started"
    PAYMENT_RECEIVED = "billing.payment_received", "Payment received"
    TAX_RECORDED = "billing.tax_recorded", "Tax recorded"
    PAYMENT_FAILED = "billing.payment_failed", "Payment failed"
    REFUND_REQUESTED = "billing.refund_requested", "Refund requested"
    REFUND_RECORDED = "billing.refund_recorded", "Refund recorded"
    DISPUTE_OPENED = "billing.dispute_opened", "Payment disputed"
    CATALOG_SYNCED = "billing.catalog_synced", "Stripe prices synced"
    PAYOUTS_ONBOARDING_STARTED = "payouts.onboarding_started", "Payouts onboarding started"
    PAYOUTS_STATUS_CHANGED = "payouts.status_changed", "Payouts status changed"
    # scanning
    SCAN_REQUESTED = "scan.requested", "Image scan requested"
    SCAN_COMPLETED = "scan.completed", "Image scan completed"
    SCAN_FAILED = "scan.failed", "Image scan failed"
    ADVISORIES_IMPORTED = "advisories.imported", "Vulnerability data imported"
    SEVERITY_OVERRIDDEN = "severity.overridden", "Vulnerability severity overridden"
    SEVERITY_OVERRIDE_REMOVED = "severity.override_removed", "Vulnerability severity override removed"


class AuditEvent(models.Model):
    occurred_at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    actor_email = models.CharField(max_length=254, blank=True)
    publisher = models.ForeignKey(
        "publishers.Publisher",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    # EventType is the vocabulary; it is not a database choice list, so a new event type in one
    # app needs no migration of the log itself.
    event_type = models.CharField(max_length=64, db_index=True)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            # The monthly publisher report: one publisher, one month, by type.
            models.Index(fields=["publisher", "occurred_at"], name="audit_publisher_time"),
            models.Index(fields=["publisher", "event_type", "occurred_at"], name="audit_pub_type_time"),
            models.Index(fields=["target_type", "target_id"], name="audit_target"),
        ]

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d %H:%M} {self.event_type} by {self.actor_email or 'system'}"

"""Licences (who may pull what), checkout orders, the money ledger, Stripe events and catalog ids.

A tier is copied with every revision of its product; the stable identity of a tier is
``(product, tier key)``. Licences, orders, ledger rows and Stripe catalog ids all point at that
pair (plus a snapshot of the tier's name and price), never at a revision's Tier row.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone


class LicenceStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    TRIALING = "trialing", "Trial"
    PAST_DUE = "past_due", "Payment overdue"
    CANCELLED = "cancelled", "Cancelled"
    REFUNDED = "refunded", "Refunded"
    EXPIRED = "expired", "Expired"


# The statuses that let a customer pull (while the period has not ended).
PULLING_STATUSES = (LicenceStatus.ACTIVE, LicenceStatus.TRIALING)


class LicenceSource(models.TextChoices):
    FREE = "free", "Free licence accepted"
    TRIAL = "trial", "Trial"
    PURCHASE = "purchase", "Purchase"
    STAFF = "staff", "Granted by the store"


class Licence(models.Model):
    """One customer's right to one tier of one product. One row per (user, product, tier key):
    buying again after a refund or cancellation brings the same row back."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="licences")
    product = models.ForeignKey("listings.Product", on_delete=models.PROTECT, related_name="licences")
    tier_key = models.UUIDField()
    # What the customer got, as it was when they got it.
    tier_name = models.CharField(max_length=80)
    price = models.DecimalField(max_digits=10, decimal_places=2, default=0)
    currency = models.CharField(max_length=3, blank=True)
    billing = models.CharField(max_length=10, blank=True)

    status = models.CharField(max_length=12, choices=LicenceStatus.choices, default=LicenceStatus.ACTIVE)
    source = models.CharField(max_length=10, choices=LicenceSource.choices)
    current_period_end = models.DateTimeField(
        null=True, blank=True, help_text="Empty for licences that do not end (free, one-off)."
    )
    cancel_at_period_end = models.BooleanField(default=False)
    licence_url = models.URLField("licence agreement accepted", max_length=300, blank=True)
    licence_version = models.CharField(
        max_length=40, blank=True, help_text="The listing revision whose licence agreement was accepted."
    )
    licence_accepted_at = models.DateTimeField(null=True, blank=True)

    stripe_customer_id = models.CharField(max_length=255, blank=True)
    stripe_subscription_id = models.CharField(max_length=255, blank=True, db_index=True)
    stripe_payment_intent_id = models.CharField(max_length=255, blank=True, db_index=True)
    stripe_checkout_session_id = models.CharField(max_length=255, blank=True)

    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "product", "tier_key"], name="licence_unique_tier"),
        ]
        indexes = [models.Index(fields=["product", "tier_key", "status"], name="licence_tier_status")]
        permissions = [("grant_licence", "Can grant a licence without payment")]

    def __str__(self) -> str:
        return f"{self.user} · {self.product} · {self.tier_name} ({self.status})"

    def get_absolute_url(self) -> str:
        return reverse("billing:licences")

    @property
    def is_subscription(self) -> bool:
        return bool(self.stripe_subscription_id)

    @property
    def allows_pull(self) -> bool:
        if self.status not in PULLING_STATUSES:
            return False
        return self.current_period_end is None or self.current_period_end > timezone.now()


class OrderStatus(models.TextChoices):
    OPEN = "open", "Waiting for payment"
    COMPLETED = "completed", "Paid"
    CANCELLED = "cancelled", "Cancelled at checkout"


class Order(models.Model):
    """One attempt to buy a tier: our id for Stripe's Checkout Session (and its idempotency key)."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    product = models.ForeignKey("listings.Product", on_delete=models.PROTECT, related_name="+")
    tier_key = models.UUIDField()
    tier_name = models.CharField(max_length=80)
    price = models.DecimalField(max_digits=10, decimal_places=2)
    currency = models.CharField(max_length=3)
    billing = models.CharField(max_length=10)
    trial_days = models.PositiveSmallIntegerField(default=0)
    stripe_price_id = models.CharField(max_length=255)
    status = models.CharField(max_length=10, choices=OrderStatus.choices, default=OrderStatus.OPEN)
    stripe_session_id = models.CharField(max_length=255, blank=True, db_index=True)
    checkout_url = models.URLField(max_length=1000, blank=True)
    licence = models.ForeignKey(Licence, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"order {self.pk}: {self.tier_name} of {self.product_id} for {self.user_id}"


class StripeProduct(models.Model):
    """The Stripe Product of one tier (product, tier key)."""

    product = models.ForeignKey("listings.Product", on_delete=models.CASCADE, related_name="+")
    tier_key = models.UUIDField()
    stripe_product_id = models.CharField(max_length=255, unique=True)
    name = models.CharField(max_length=200)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["product", "tier_key"], name="stripeproduct_unique_tier"),
        ]

    def __str__(self) -> str:
        return self.stripe_product_id


class StripePrice(models.Model):
    """A Stripe Price per (tier, amount, currency, interval). A changed price makes a new row and a
    new Price; subscribers keep the Price they signed up with."""

    stripe_product = models.ForeignKey(StripeProduct, on_delete=models.CASCADE, related_name="prices")
    unit_amount = models.PositiveIntegerField(help_text="Minor units (cents).")
    currency = models.CharField(max_length=3)
    interval = models.CharField(max_length=5, blank=True, help_text="Empty for one-off, month or year.")
    stripe_price_id = models.CharField(max_length=255, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["stripe_product", "unit_amount", "currency", "interval"], name="stripeprice_unique"
            ),
        ]

    def __str__(self) -> str:
        return self.stripe_price_id


class LedgerKind(models.TextChoices):
    PAYMENT = "payment", "Payment"
    TAX = "tax", "Tax"
    APPLICATION_FEE = "application_fee", "Store fee"
    TRANSFER = "transfer", "Publisher share"
    REFUND = "refund", "Refund"


class LedgerEntry(models.Model):
    """One money movement, in minor units and always positive; ``kind`` says which way it goes.

    The publisher's share of a payment is ``payment - tax - store fee`` (the ``transfer`` row);
    refunds are subtracted from it. The store fee is the revenue share of the amount before tax.
    Unique per (kind, Stripe object): the same payment seen twice is counted once.
    """

    kind = models.CharField(max_length=20, choices=LedgerKind.choices)
    stripe_object_id = models.CharField(max_length=255)
    payment_intent_id = models.CharField(max_length=255, blank=True, db_index=True)
    publisher = models.ForeignKey("publishers.Publisher", on_delete=models.PROTECT, related_name="+")
    product = models.ForeignKey("listings.Product", on_delete=models.PROTECT, related_name="+")
    tier_key = models.UUIDField()
    tier_name = models.CharField(max_length=80, blank=True)
    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    licence = models.ForeignKey(Licence, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    currency = models.CharField(max_length=3)
    amount = models.BigIntegerField(help_text="Minor units.")
    occurred_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        verbose_name_plural = "ledger entries"
        constraints = [
            models.UniqueConstraint(fields=["kind", "stripe_object_id"], name="ledger_unique_object"),
        ]
        indexes = [models.Index(fields=["publisher", "occurred_at"], name="ledger_publisher_time")]
        permissions = [("refund_payment", "Can refund a customer's payment")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount / 100:.2f} {self.currency} ({self.stripe_object_id})"


class StripeEvent(models.Model):
    """Every webhook event, stored once; ``processed_at`` is set when its handler has run."""

    event_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100, db_index=True)
    created = models.IntegerField(help_text="Stripe's unix time of the event.")
    payload = models.JSONField()
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    outcome = models.TextField(blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"


class PayoutAccount(models.Model):
    """A publisher's Stripe Express account, kept current from ``account.updated``."""

    publisher = models.OneToOneField(
        "publishers.Publisher", on_delete=models.CASCADE, related_name="payout_account"
    )
    stripe_account_id = models.CharField(max_length=255, unique=True)
    charges_enabled = models.BooleanField(default=False)
    payouts_enabled = models.BooleanField(default=False)
    details_submitted = models.BooleanField(default=False)
    requirements_due = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.publisher.namespace}: {self.stripe_account_id}"

    @property
    def ready(self) -> bool:
        return self.charges_enabled and self.payouts_enabled

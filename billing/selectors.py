"""Reads of billing data. ``may_pull`` is the one answer to "may this person pull this tier now"."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet, Sum
from django.http import Http404
from django.utils import timezone

from billing import gateway
from billing.models import (
    PULLING_STATUSES,
    LedgerEntry,
    LedgerKind,
    Licence,
    LicenceStatus,
    Order,
    PayoutAccount,
)
from listings.models import AccessPolicy, Product, ProductStatus, Revision, Tier
from publishers.models import Publisher


def _holds_licence(user: Any, product_id: int, tier_key: uuid.UUID) -> bool:
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    now = timezone.now()
    return (
        Licence.objects.filter(user_id=user.pk, product_id=product_id, tier_key=tier_key)
        .filter(status__in=PULLING_STATUSES)
        .exclude(current_period_end__lte=now)
        .exists()
    )


def _pull_rule(*, user: Any, product: Product, tier_is_live: bool, holds: Callable[[], bool]) -> bool:
    """The rule behind ``may_pull``, on rows already loaded; ``holds`` answers whether the user
    holds a current licence of the tier (asked only when the rule needs it)."""
    if product.live_revision is None or not tier_is_live:
        return False
    if product.status not in (ProductStatus.PUBLISHED, ProductStatus.ON_HOLD):
        return False
    if product.status == ProductStatus.ON_HOLD:
        return holds()
    policy = product.live_revision.access_policy
    if policy == AccessPolicy.EVERYONE:
        return True
    if policy == AccessPolicy.LOGGED_IN:
        return bool(user is not None and user.is_authenticated and user.is_active)
    return holds()


def may_pull(*, user: Any, tier: Tier) -> bool:
    """Whether ``user`` (possibly anonymous) may pull ``tier``'s repository right now.

    The tier must be part of the product's live revision (matched by its stable key, so a Tier row
    of an older revision answers for the same tier). Published products follow the live access
    policy: everyone, any logged-in user, or holders of an active or trialing licence whose period
    has not ended. On hold, only licence holders keep pulling. Revoked, unpublished and never
    published products cannot be pulled by customers at all.
    """
    revision = tier.revision
    cached = Revision.product.is_cached(revision)
    if cached and revision.product.live_revision_id == revision.pk:
        # The caller loaded the tier of the live revision with its product (the registry's token
        # service does): nothing to read again.
        product = revision.product
        product.live_revision = revision
        tier_is_live = True
    else:
        found = Product.objects.select_related("live_revision").filter(pk=revision.product_id).first()
        if found is None or found.live_revision is None:
            return False
        if found.status not in (ProductStatus.PUBLISHED, ProductStatus.ON_HOLD):
            return False
        product = found
        tier_is_live = Tier.objects.filter(revision=product.live_revision, key=tier.key).exists()
    return _pull_rule(
        user=user,
        product=product,
        tier_is_live=tier_is_live,
        holds=lambda: _holds_licence(user, product.pk, tier.key),
    )


def may_pull_licensed(*, user: Any, licence: Licence, live_tier: Tier | None) -> bool:
    """``may_pull`` for ``user``, the holder of ``licence``, without a query, for pages and lists:
    the licence's product must come with its live revision and ``live_tier`` is the live copy of
    the licensed tier (``live_tiers_for``), or None when it is no longer offered."""

    def holds() -> bool:
        return bool(
            user is not None
            and user.is_authenticated
            and user.is_active
            and licence.user_id == user.pk
            and licence.allows_pull
        )

    return _pull_rule(user=user, product=licence.product, tier_is_live=live_tier is not None, holds=holds)


def licences_for_user(user: Any) -> QuerySet[Licence]:
    """The person's licences, newest first, with their product and publisher."""
    if user is None or not user.is_authenticated:
        return Licence.objects.none()
    return (
        Licence.objects.filter(user_id=user.pk)
        .select_related("product", "product__publisher", "product__live_revision")
        .order_by("-created_at", "-id")
    )


def get_licence_for_user(user: Any, licence_id: int) -> Licence:
    licence = licences_for_user(user).filter(pk=licence_id).first()
    if licence is None:
        raise Http404("No such licence.")
    return licence


def licence_for(user: Any, product: Product, tier_key: uuid.UUID) -> Licence | None:
    if user is None or not user.is_authenticated:
        return None
    return Licence.objects.filter(user_id=user.pk, product=product, tier_key=tier_key).first()


def current_tier(product: Product, tier_key: uuid.UUID) -> Tier | None:
    """The live revision's copy of the tier with ``tier_key``, if the product has one."""
    if product.live_revision_id is None:
        return None
    return Tier.objects.filter(revision_id=product.live_revision_id, key=tier_key).first()


def get_live_tier(tier_id: int) -> Tier:
    """A tier of a product's live revision that customers can see (published or on hold)."""
    tier = (
        Tier.objects.select_related("revision", "revision__product", "revision__product__publisher")
        .filter(pk=tier_id)
        .first()
    )
    if tier is None:
        raise Http404("No such tier.")
    product = tier.revision.product
    if product.live_revision_id != tier.revision_id or not product.is_visible:
        raise Http404("No such tier.")
    return tier


def get_live_tier_by_key(product_id: int, tier_key: uuid.UUID) -> Tier:
    product = Product.objects.filter(pk=product_id).only("live_revision_id").first()
    if product is None or product.live_revision_id is None:
        raise Http404("No such tier.")
    tier = Tier.objects.filter(revision_id=product.live_revision_id, key=tier_key).first()
    if tier is None:
        raise Http404("No such tier.")
    return get_live_tier(tier.pk)


def get_order_for_user(user: Any, public_id: uuid.UUID) -> Order:
    order = (
        Order.objects.select_related("product", "product__publisher", "product__live_revision", "licence")
        .filter(user_id=user.pk, public_id=public_id)
        .first()
    )
    if order is None:
        raise Http404("No such order.")
    return order


def payout_account(publisher: Publisher) -> PayoutAccount | None:
    return PayoutAccount.objects.filter(publisher=publisher).first()


def payouts_enabled(publisher: Publisher) -> bool:
    """Whether the publisher's Stripe account can take charges and receive payouts.

    A paid tier must not go live before this is true: nobody could pay for it.
    """
    return PayoutAccount.objects.filter(
        publisher=publisher, charges_enabled=True, payouts_enabled=True
    ).exists()


@dataclass(frozen=True)
class SalesTotals:
    currency: str
    gross: int
    tax: int
    store_fee: int
    refunds: int
    publisher_share: int


def sales_entries(publisher: Publisher) -> QuerySet[LedgerEntry]:
    return (
        LedgerEntry.objects.filter(publisher=publisher, kind__in=[LedgerKind.PAYMENT, LedgerKind.REFUND])
        .select_related("product", "customer")
        .order_by("-occurred_at", "-id")
    )


def sales_totals(publisher: Publisher) -> list[SalesTotals]:
    """Totals per currency, in minor units.

    The rule: a payment's publisher share is its ``transfer`` row (gross - tax - store fee, the fee
    being the revenue share of the amount before tax). A refund reverses the transfer and the
    store fee in proportion (``reverse_transfer`` and ``refund_application_fee``), so a payment
    refunded by R out of gross G leaves ``transfer * (G - R) / G`` to the publisher.
    """
    entries = list(LedgerEntry.objects.filter(publisher=publisher).order_by("id"))
    refunded: dict[str, int] = {}
    for entry in entries:
        if entry.kind == LedgerKind.REFUND:
            refunded[entry.payment_intent_id] = refunded.get(entry.payment_intent_id, 0) + entry.amount
    transfers = {e.stripe_object_id: e.amount for e in entries if e.kind == LedgerKind.TRANSFER}
    sums: dict[str, dict[str, int]] = {}
    for entry in entries:
        row = sums.setdefault(entry.currency, {"share": 0})
        row[entry.kind] = row.get(entry.kind, 0) + entry.amount
        if entry.kind == LedgerKind.PAYMENT and entry.amount:
            kept = (
                max(entry.amount - refunded.get(entry.payment_intent_id, 0), 0)
                if entry.payment_intent_id
                else entry.amount
            )
            row["share"] += round(transfers.get(entry.stripe_object_id, 0) * kept / entry.amount)
    return [
        SalesTotals(
            currency=currency,
            gross=row.get(LedgerKind.PAYMENT, 0),
            tax=row.get(LedgerKind.TAX, 0),
            store_fee=row.get(LedgerKind.APPLICATION_FEE, 0),
            refunds=row.get(LedgerKind.REFUND, 0),
            publisher_share=row["share"],
        )
        for currency, row in sorted(sums.items())
    ]


def refunded_amount(payment: LedgerEntry) -> int:
    total = LedgerEntry.objects.filter(
        kind=LedgerKind.REFUND, payment_intent_id=payment.payment_intent_id
    ).aggregate(total=Sum("amount"))["total"]
    return int(total or 0)


def get_payment_for_publisher(publisher: Publisher, entry_id: int) -> LedgerEntry:
    entry = LedgerEntry.objects.filter(publisher=publisher, kind=LedgerKind.PAYMENT, pk=entry_id).first()
    if entry is None:
        raise Http404("No such payment.")
    return entry


def cancellations(publisher: Publisher) -> QuerySet[Licence]:
    """Licences of the publisher's tiers that were cancelled or will end at the period's end."""
    return (
        Licence.objects.filter(product__publisher=publisher)
        .filter(Q(cancel_at_period_end=True) | Q(status=LicenceStatus.CANCELLED))
        .select_related("product", "user")
        .order_by("-updated_at", "-id")
    )


@dataclass(frozen=True)
class TierAction:
    """What the product page offers for one tier: ``kind`` is have, get, trial, buy,
    not_configured or unavailable; ``message`` explains the last two."""

    kind: str
    label: str
    licence: Licence | None = None
    message: str = ""


def tier_action(*, user: Any, product: Product, tier: Tier) -> TierAction:
    licence = licence_for(user, product, tier.key)
    if licence is not None and licence.allows_pull:
        return TierAction("have", "You have this", licence)
    if product.status != ProductStatus.PUBLISHED:
        return TierAction(
            "unavailable", tier.action, licence, "New licences are paused while the product is on hold."
        )
    if tier.is_free:
        return TierAction("get", "Get", licence)
    if not gateway.is_configured():
        return TierAction(
            "not_configured", tier.action, licence, "Payment is not configured on this store yet."
        )
    if not payouts_enabled(product.publisher):
        return TierAction("unavailable", tier.action, licence, "The publisher cannot take payments yet.")
    if tier.trial_days and tier.billing != "one_off" and licence is None:
        return TierAction("trial", "Start trial", licence)
    return TierAction("buy", "Buy", licence)


def live_tiers_for(licences: list[Licence]) -> dict[tuple[int, uuid.UUID], Tier]:
    """The live copy of each licensed tier, in one query: {(product id, tier key): Tier}."""
    revisions = {
        lic.product.live_revision_id: lic.product_id for lic in licences if lic.product.live_revision_id
    }
    tiers = Tier.objects.filter(revision_id__in=list(revisions), key__in={lic.tier_key for lic in licences})
    return {(revisions[t.revision_id], t.key): t for t in tiers}

"""Builders for billing tests: a live product with a free, a monthly (with trial) and a one-off tier."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.test import Client

from accounts.models import User
from billing.models import LedgerEntry, Licence, Order, PayoutAccount
from listings import services
from listings.models import Category, Product, Tier
from publishers.models import Publisher
from tests.billing.fake_stripe import FakeStripe, sign
from tests.images import upload
from tests.listings.helpers import manifest, tier_data

WEBHOOK_SECRET = "whsec_test_fake"
WEBHOOK_URL = "/billing/stripe/webhook/"


@dataclass
class Catalog:
    product: Product
    free: Tier
    monthly: Tier
    one_off: Tier


def live_product(publisher: Publisher, owner: User, moderator: User, **overrides: Any) -> Catalog:
    """A published product whose tiers are Free, Standard (49.00 USD monthly, 14-day trial) and
    Lifetime (99.00 USD once), built through listings' own services."""
    ns = publisher.namespace
    # Transactional tests flush the categories the data migration seeds.
    Category.objects.get_or_create(slug="databases", defaults={"name": "Databases"})
    product = services.product_create(actor=owner, publisher=publisher, name="Acme Postgres")
    tiers = [
        services.TierChange(
            data=tier_data(
                ns, name="Free", price=Decimal("0"), trial_days=0, staging_source=f"{ns}/pg-free:15"
            )
        ),
        services.TierChange(data=tier_data(ns, name="Standard", staging_source=f"{ns}/pg-std:15.4")),
        services.TierChange(
            data=tier_data(
                ns,
                name="Lifetime",
                price=Decimal("99.00"),
                billing="one_off",
                trial_days=0,
                staging_source=f"{ns}/pg-life:15",
            )
        ),
    ]
    services.revision_save(actor=owner, product=product, changes=manifest(**overrides), tiers=tiers)
    services.screenshot_add(actor=owner, product=product, image=upload(1280, 800, name="shot.png"))
    ready_payouts(publisher)  # paid tiers go live only with payouts enabled
    revision = services.revision_submit(actor=owner, product=product)
    services.revision_approve(actor=moderator, revision=revision)
    product.refresh_from_db()
    live = {t.name: t for t in Tier.objects.filter(revision=product.live_revision)}
    return Catalog(product=product, free=live["Free"], monthly=live["Standard"], one_off=live["Lifetime"])


def ready_payouts(publisher: Publisher, account_id: str = "") -> PayoutAccount:
    """The publisher's Stripe account, able to take charges and payouts (acct_test_<namespace>)."""
    account, _ = PayoutAccount.objects.update_or_create(
        publisher=publisher,
        defaults={
            "stripe_account_id": account_id or f"acct_test_{publisher.namespace}",
            "charges_enabled": True,
            "payouts_enabled": True,
            "details_submitted": True,
        },
    )
    return account


def post_event(
    client: Client, event: dict[str, Any] | str, *, secret: str = WEBHOOK_SECRET, timestamp: int | None = None
) -> Any:
    payload = event if isinstance(event, str) else json.dumps(event)
    return client.post(
        WEBHOOK_URL,
        data=payload,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=sign(payload, secret, timestamp),
    )


def buy(
    client: Client, customer: User, shop: Catalog, stripe: FakeStripe, tier: Tier
) -> tuple[Order, list[dict[str, Any]]]:
    """Start checkout of ``tier`` as ``customer`` and pay it on the fake: the events Stripe sends."""
    client.force_login(customer)
    client.post(f"/billing/products/{shop.product.pk}/tiers/{tier.key}/checkout/")
    order = Order.objects.get(tier_key=tier.key, user=customer)
    return order, stripe.complete_checkout(order.stripe_session_id)


def ledger(licence: Licence | None = None) -> list[tuple[str, int]]:
    rows = LedgerEntry.objects.order_by("id")
    if licence is not None:
        rows = rows.filter(licence=licence)
    return [(e.kind, e.amount) for e in rows]


def paid_subscription(
    client: Client, customer: User, shop: Catalog, stripe_on: FakeStripe
) -> tuple[Order, list[dict[str, Any]]]:
    """A second-time subscriber: no trial, paid at once."""
    Licence.objects.create(
        user=customer,
        product=shop.product,
        tier_key=shop.monthly.key,
        tier_name="Standard",
        status="expired",
        source="trial",
    )
    return buy(client, customer, shop, stripe_on, shop.monthly)

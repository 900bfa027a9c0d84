"""Builders for listings tests: complete manifests, tiers and moderators."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib.auth.models import Group

from accounts.models import User
from listings import services
from listings.models import Category, Product, Revision
from publishers.models import Publisher
from store.roles import MODERATORS_GROUP, sync_moderators_group
from tests.factories import UserFactory
from tests.images import upload


def manifest(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "Acme Postgres",
        "logo": upload(512, 512),
        "short_description": "PostgreSQL with backups and failover, tuned for containers.",
        "category": Category.objects.get(slug="databases"),
        "tags": "sql, database, postgres",
        "long_description": "# Acme Postgres\n\nThe **fastest** way to run PostgreSQL.",
        "support_url": "https://acme.example.com/support",
        "installation_instructions": "Run it with `docker run`.",
        "licence_url": "https://acme.example.com/licence",
        "distribution": "paid",
        "access_policy": "licence_holders",
        "kind": "container",
        "engine_compatibility": "certified",
    }
    data.update(overrides)
    return data


def tier_data(namespace: str = "acme", **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "Standard",
        "description": "One node, business-hours support.",
        "price": Decimal("49.00"),
        "currency": "USD",
        "billing": "monthly",
        "trial_days": 14,
        "licence_required": True,
        "staging_source": f"{namespace}/postgres-staging:15.4",
        "repository": "",
    }
    data.update(overrides)
    return data


def enable_payouts(publisher: Publisher) -> None:
    """Paid tiers go live only once the publisher's Stripe account can take payouts."""
    from billing.models import PayoutAccount

    PayoutAccount.objects.update_or_create(
        publisher=publisher,
        defaults={
            "stripe_account_id": f"acct_test_{publisher.namespace}",
            "charges_enabled": True,
            "payouts_enabled": True,
        },
    )


def complete_product(
    publisher: Publisher, actor: User, *, name: str = "Acme Postgres", tiers: int = 2, **overrides: Any
) -> Product:
    """A product whose draft can be submitted: every manifest item, ``tiers`` tiers, one screenshot."""
    product = services.product_create(actor=actor, publisher=publisher, name=name)
    ns = publisher.namespace
    changes = [
        services.TierChange(data=tier_data(ns)),
        services.TierChange(
            data=tier_data(
                ns, name="Free", price=Decimal("0"), trial_days=0, staging_source=f"{ns}/pg-free:15"
            )
        ),
        services.TierChange(data=tier_data(ns, name="Enterprise", price=Decimal("499"), billing="yearly")),
    ][:tiers]
    if overrides.get("distribution") == "free":
        for change in changes:
            change.data.update(price=Decimal("0"), trial_days=0)
    if overrides.pop("payouts", True) and any(c.data["price"] > 0 for c in changes):
        enable_payouts(publisher)
    services.revision_save(
        actor=actor, product=product, changes=manifest(name=name, **overrides), tiers=changes
    )
    services.screenshot_add(
        actor=actor, product=product, image=upload(1280, 800, name="shot.png"), caption="Dashboard"
    )
    product.refresh_from_db()
    return product


def submitted(publisher: Publisher, actor: User, **kwargs: Any) -> Revision:
    product = complete_product(publisher, actor, **kwargs)
    return services.revision_submit(actor=actor, product=product)


def published(publisher: Publisher, actor: User, moderator: User, **kwargs: Any) -> Product:
    revision = submitted(publisher, actor, **kwargs)
    services.revision_approve(actor=moderator, revision=revision)
    revision.product.refresh_from_db()
    return revision.product


def make_moderator(email: str = "mod@store.example.com") -> User:
    sync_moderators_group()
    user = UserFactory(email=email, full_name="Mona Moderator", is_staff=True)
    user.groups.add(Group.objects.get(name=MODERATORS_GROUP))
    return User.objects.get(pk=user.pk)  # fresh: no cached permissions

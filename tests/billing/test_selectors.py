"""may_pull: the one answer to "may this person pull this tier now"."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

from billing.models import Licence
from billing.selectors import may_pull, payouts_enabled
from listings import services as listing_services
from listings.models import Product, Tier
from tests.billing.helpers import Catalog, live_product, ready_payouts

pytestmark = pytest.mark.django_db


def set_policy(catalog: Catalog, policy: str) -> None:
    catalog.product.live_revision.__class__.objects.filter(pk=catalog.product.live_revision_id).update(
        access_policy=policy
    )


def licence(user, catalog: Catalog, **fields) -> Licence:
    data = {"status": "active", "source": "free", "tier_name": "Free"}
    data.update(fields)
    return Licence.objects.create(user=user, product=catalog.product, tier_key=catalog.free.key, **data)


def test_everyone_may_pull_public_tiers(catalog: Catalog, customer) -> None:
    set_policy(catalog, "everyone")
    assert may_pull(user=AnonymousUser(), tier=catalog.free) is True
    assert may_pull(user=customer, tier=catalog.free) is True


def test_logged_in_policy(catalog: Catalog, customer) -> None:
    set_policy(catalog, "logged_in")
    assert may_pull(user=AnonymousUser(), tier=catalog.free) is False
    assert may_pull(user=customer, tier=catalog.free) is True
    customer.is_active = False
    assert may_pull(user=customer, tier=catalog.free) is False


@pytest.mark.parametrize(
    ("fields", "allowed"),
    [
        ({"status": "active"}, True),
        ({"status": "trialing", "current_period_end": timezone.now() + timedelta(days=3)}, True),
        ({"status": "active", "current_period_end": timezone.now() - timedelta(seconds=1)}, False),
        ({"status": "past_due"}, False),
        ({"status": "cancelled"}, False),
        ({"status": "refunded"}, False),
        ({"status": "expired"}, False),
    ],
)
def test_licence_holders_need_a_current_active_or_trialing_licence(
    catalog: Catalog, customer, fields, allowed
) -> None:
    assert catalog.product.live_revision.access_policy == "licence_holders"
    assert may_pull(user=customer, tier=catalog.free) is False
    licence(customer, catalog, **fields)
    assert may_pull(user=customer, tier=catalog.free) is allowed
    assert may_pull(user=AnonymousUser(), tier=catalog.free) is False


def test_a_licence_is_for_one_tier_and_one_person(catalog: Catalog, customer, personas) -> None:
    licence(customer, catalog)
    assert may_pull(user=customer, tier=catalog.one_off) is False
    assert may_pull(user=personas.outsider, tier=catalog.free) is False


def test_on_hold_only_licence_holders_keep_pulling(catalog: Catalog, customer, personas) -> None:
    set_policy(catalog, "everyone")
    licence(customer, catalog)
    listing_services.product_hold(actor=None, product=catalog.product, reason="CVE overdue")
    assert may_pull(user=customer, tier=catalog.free) is True
    assert may_pull(user=personas.outsider, tier=catalog.free) is False
    assert may_pull(user=AnonymousUser(), tier=catalog.free) is False


@pytest.mark.parametrize("status", ["revoked", "unpublished", "draft"])
def test_no_customer_pulls_from_revoked_unpublished_or_unpublished_products(
    catalog: Catalog, customer, status
) -> None:
    set_policy(catalog, "everyone")
    licence(customer, catalog)
    Product.objects.filter(pk=catalog.product.pk).update(status=status)
    assert may_pull(user=customer, tier=catalog.free) is False


def test_tier_identity_is_the_key_across_revisions(catalog: Catalog, customer, personas, moderator) -> None:
    """A licence bought on revision 1 still pulls the same tier once revision 2 is live; a tier
    removed from the live revision cannot be pulled."""
    licence(customer, catalog)
    old_free = catalog.free
    listing_services.tier_delete(actor=personas.owner, product=catalog.product, key=catalog.one_off.key)
    revision = listing_services.revision_submit(actor=personas.owner, product=catalog.product)
    listing_services.revision_approve(actor=moderator, revision=revision)
    new_free = Tier.objects.get(revision=revision, key=old_free.key)
    assert new_free.pk != old_free.pk
    assert may_pull(user=customer, tier=new_free) is True
    assert may_pull(user=customer, tier=old_free) is True
    Licence.objects.create(
        user=customer,
        product=catalog.product,
        tier_key=catalog.one_off.key,
        status="active",
        source="purchase",
    )
    assert may_pull(user=customer, tier=catalog.one_off) is False


def test_payouts_enabled(personas) -> None:
    assert payouts_enabled(personas.acme) is False
    account = ready_payouts(personas.acme)
    assert payouts_enabled(personas.acme) is True
    account.payouts_enabled = False
    account.save()
    assert payouts_enabled(personas.acme) is False


def test_may_pull_runs_a_fixed_number_of_queries(
    catalog: Catalog, customer, django_assert_max_num_queries
) -> None:
    licence(customer, catalog)
    with django_assert_max_num_queries(4):
        assert may_pull(user=customer, tier=catalog.free) is True


def test_the_helper_product_is_complete(personas, moderator) -> None:
    other = live_product(personas.other, personas.outsider, moderator)
    assert other.product.status == "published"


@pytest.mark.parametrize(
    ("product_status", "licence_status", "expected"),
    [
        ("published", "active", True),
        ("published", "cancelled", False),
        ("on_hold", "active", True),
        ("revoked", "active", False),
        ("unpublished", "active", False),
    ],
)
def test_my_licences_and_the_api_show_the_pull_command_exactly_when_may_pull_says_so(
    client, api_client, catalog: Catalog, customer, settings, product_status, licence_status, expected
) -> None:
    settings.REGISTRY_PUBLIC_HOST = "registry.example.com"
    licence(customer, catalog, status=licence_status)
    Product.objects.filter(pk=catalog.product.pk).update(status=product_status)
    assert may_pull(user=customer, tier=catalog.free) is expected
    command = "docker pull registry.example.com/acme/acme-postgres:15"
    client.force_login(customer)
    assert (command in client.get("/billing/licences/").content.decode()) is expected
    api_client.force_authenticate(customer)
    [row] = api_client.get("/api/v1/me/licences/").json()["results"]
    assert row["pull"] == (command if expected else None)

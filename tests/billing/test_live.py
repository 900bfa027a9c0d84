"""Against Stripe itself, in test mode: runs only when STRIPE_TEST_SECRET_KEY is set.

The fake server proves what the store sends; this proves Stripe accepts it. Set
STRIPE_TEST_CONNECT_ACCOUNT (an Express account in test mode with payouts enabled) to include
the destination-charge checkout.
"""

from __future__ import annotations

import os
import uuid

import pytest

from billing import gateway, services
from billing.models import PayoutAccount
from tests.billing.helpers import Catalog, live_product

KEY = os.environ.get("STRIPE_TEST_SECRET_KEY", "")
ACCOUNT = os.environ.get("STRIPE_TEST_CONNECT_ACCOUNT", "")

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        not KEY, reason="STRIPE_TEST_SECRET_KEY is not set: the live Stripe suite needs test-mode keys"
    ),
]


@pytest.fixture
def live(settings) -> None:
    assert KEY.startswith("sk_test_"), "only test-mode keys, never live ones"
    settings.STRIPE_SECRET_KEY = KEY
    settings.STRIPE_API_BASE = ""
    settings.SITE_URL = "https://store.example.com"


@pytest.mark.usefixtures("live")
def test_catalog_sync_creates_real_products_and_prices(personas, moderator) -> None:
    catalog: Catalog = live_product(
        personas.acme, personas.owner, moderator, name=f"Live {uuid.uuid4().hex[:8]}"
    )
    prices = services.catalog_sync_for_revision(revision=catalog.product.live_revision)
    assert len(prices) == 2
    assert all(p.stripe_price_id.startswith("price_") for p in prices)
    assert services.catalog_sync_for_revision(revision=catalog.product.live_revision) == prices


@pytest.mark.usefixtures("live")
@pytest.mark.skipif(
    not ACCOUNT,
    reason="STRIPE_TEST_SECRET_KEY and STRIPE_TEST_CONNECT_ACCOUNT are both needed for live checkout",
)
def test_real_checkout_sessions_accept_our_parameters(personas, moderator, customer) -> None:
    catalog = live_product(personas.acme, personas.owner, moderator, name=f"Live {uuid.uuid4().hex[:8]}")
    PayoutAccount.objects.create(
        publisher=personas.acme, stripe_account_id=ACCOUNT, charges_enabled=True, payouts_enabled=True
    )
    for tier in (catalog.one_off, catalog.monthly):
        order = services.checkout_start(user=customer, tier=tier)
        assert order.checkout_url.startswith("https://checkout.stripe.com/")
        session = gateway.retrieve_checkout_session(order.stripe_session_id)
        assert session["metadata"]["order_id"] == str(order.pk)

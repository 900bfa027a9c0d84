"""A customer's billing journey in a real browser, against the fake Stripe server.

They get the free tier (accepting its licence), buy the one-off tier through the fake Stripe
Checkout page (which posts the signed webhook back to the live server, as Stripe does), wait on
the success page until the licence is granted, see both licences in My licences with their pull
commands, and cancel the free one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from billing.models import LedgerEntry, Licence
from tests.billing.fake_stripe import FakeStripe
from tests.billing.helpers import WEBHOOK_SECRET, WEBHOOK_URL, live_product, ready_payouts
from tests.factories import DEFAULT_PASSWORD, UserFactory
from tests.listings.helpers import make_moderator

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def fake_stripe(live_server: Any, settings: Any) -> Iterator[FakeStripe]:
    fake = FakeStripe().start()
    fake.webhook_url = f"{live_server.url}{WEBHOOK_URL}"
    fake.webhook_secret = WEBHOOK_SECRET
    settings.STRIPE_SECRET_KEY = "sk_test_fake"
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.STRIPE_API_BASE = fake.url
    settings.SITE_URL = live_server.url
    settings.REGISTRY_PUBLIC_HOST = "registry.example.com"
    yield fake
    fake.stop()


def test_a_customer_gets_a_free_tier_buys_a_paid_one_and_cancels(
    page: Any, fake_stripe: FakeStripe, personas: Any
) -> None:
    catalog = live_product(personas.acme, personas.owner, make_moderator())
    ready_payouts(personas.acme)
    fake_stripe.add_account("acct_test_acme")
    customer = UserFactory(email="carol@customer.example.com", full_name="Carol Customer")
    tiers_page = f"/billing/products/acme/{catalog.product.slug}/"

    page.goto(f"/accounts/login/?next={tiers_page}")
    page.fill("input[name=email]", customer.email)
    page.fill("input[name=password]", DEFAULT_PASSWORD)
    page.locator("main form button[type=submit]").first.click()
    page.wait_for_url(re.compile(re.escape(tiers_page) + "$"))

    # The free tier: the licence must be accepted first.
    free = page.locator(f"#tier-{catalog.free.key}")
    free.locator("input[name=accept_licence]").check()
    free.locator("button", has_text="Get").click()
    page.wait_for_url(re.compile(r"/billing/licences/$"))
    assert "is yours" in page.locator(".messages").inner_text()

    # The one-off tier, through the fake Stripe Checkout.
    page.goto(tiers_page)
    page.locator(f"#tier-{catalog.one_off.key}").locator("button", has_text="Buy").click()
    page.wait_for_url(re.compile(r"/pay/cs_test_"))
    assert page.locator("h1").inner_text() == "Fake Stripe Checkout"
    page.click("#pay")
    page.wait_for_url(re.compile(r"/billing/checkout/[0-9a-f-]+/success/"))
    page.wait_for_selector("#licence-ready")
    ready = page.locator("#licence-ready").inner_text()
    assert "Lifetime is yours" in ready
    assert "docker pull registry.example.com/acme/acme-postgres-lifetime:15" in ready

    # Both in My licences, then cancel the free one.
    page.click("text=My licences")
    page.wait_for_url(re.compile(r"/billing/licences/$"))
    body = page.locator("main").inner_text()
    assert "docker login registry.example.com" in body
    assert "docker pull registry.example.com/acme/acme-postgres:15" in body
    assert "docker pull registry.example.com/acme/acme-postgres-lifetime:15" in body
    free_licence = Licence.objects.get(user=customer, tier_key=catalog.free.key)
    row = page.locator(f"tr[data-licence='{free_licence.pk}']")
    row.locator("button", has_text="Cancel").click()
    page.wait_for_url(re.compile(r"/billing/licences/$"))
    assert "Cancelled" in page.locator(f"tr[data-licence='{free_licence.pk}'] .status").inner_text()
    page.screenshot(path="/tmp/billing-my-licences.png", full_page=True)

    statuses = dict(Licence.objects.filter(user=customer).values_list("tier_name", "status"))
    assert statuses == {"Free": "cancelled", "Lifetime": "active"}
    assert LedgerEntry.objects.filter(kind="payment", customer=customer).count() == 1
    [call] = fake_stripe.calls("POST", "/v1/checkout/sessions")
    assert call.params["payment_intent_data"]["transfer_data"] == {"destination": "acct_test_acme"}

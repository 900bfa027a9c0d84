"""Checkout and the Stripe catalog: exactly what the store sends to Stripe, and its faults."""

from __future__ import annotations

from decimal import Decimal

import pytest

from audit.models import AuditEvent, EventType
from billing import services
from billing.models import Order, PayoutAccount, StripePrice
from listings import services as listing_services
from tests.billing.fake_stripe import FakeStripe
from tests.billing.helpers import Catalog

pytestmark = pytest.mark.django_db


def checkout_url(catalog: Catalog, tier) -> str:
    return f"/billing/products/{catalog.product.pk}/tiers/{tier.key}/checkout/"


def test_one_off_checkout_sends_a_destination_payment_with_fee_tax_and_metadata(
    client, customer, shop: Catalog, stripe_on: FakeStripe
) -> None:
    client.force_login(customer)
    response = client.post(checkout_url(shop, shop.one_off))
    order = Order.objects.get()
    assert response.status_code == 302
    assert response["Location"] == order.checkout_url
    [call] = stripe_on.calls("POST", "/v1/checkout/sessions")
    price = StripePrice.objects.get(unit_amount=9900)
    metadata = {
        "order_id": str(order.pk),
        "user_id": str(customer.pk),
        "product_id": str(shop.product.pk),
        "tier_key": str(shop.one_off.key),
    }
    assert call.params == {
        "mode": "payment",
        "line_items": [{"price": price.stripe_price_id, "quantity": "1"}],
        "success_url": f"http://testserver/billing/checkout/{order.public_id}/success/?session_id={{CHECKOUT_SESSION_ID}}",
        "cancel_url": f"http://testserver/billing/checkout/{order.public_id}/cancel/",
        "client_reference_id": str(order.pk),
        "metadata": metadata,
        "automatic_tax": {"enabled": "true"},
        "customer_email": customer.email,
        "customer_creation": "always",
        "payment_intent_data": {
            "application_fee_amount": "1980",  # 20% of 99.00, before tax
            "transfer_data": {"destination": "acct_test_acme"},
            "metadata": metadata,
        },
    }
    assert call.idempotency_key == f"checkout:{order.pk}"
    assert call.headers["stripe-version"] == "2026-10-28.endive"
    assert call.headers["authorization"] == "Bearer sk_test_fake"
    assert AuditEvent.objects.filter(event_type=EventType.CHECKOUT_STARTED, actor=customer).count() == 1


def test_subscription_checkout_sends_fee_percent_destination_trial_and_metadata(
    client, customer, shop: Catalog, stripe_on: FakeStripe
) -> None:
    client.force_login(customer)
    client.post(checkout_url(shop, shop.monthly))
    order = Order.objects.get()
    [call] = stripe_on.calls("POST", "/v1/checkout/sessions")
    assert call.params["mode"] == "subscription"
    assert call.params["subscription_data"] == {
        "application_fee_percent": "20",
        "transfer_data": {"destination": "acct_test_acme"},
        "trial_period_days": "14",
        "metadata": call.params["metadata"],
    }
    assert call.params["metadata"]["order_id"] == str(order.pk)
    assert call.params["automatic_tax"] == {"enabled": "true"}
    assert "payment_intent_data" not in call.params
    assert "customer_creation" not in call.params
    assert call.idempotency_key == f"checkout:{order.pk}"


def test_catalog_prices_are_made_once_per_amount_and_a_new_price_keeps_the_old(
    shop: Catalog, stripe_on: FakeStripe, personas, moderator
) -> None:
    revision = shop.product.live_revision
    first = services.catalog_sync_for_revision(revision=revision)
    again = services.catalog_sync_for_revision(revision=revision)
    assert [p.pk for p in first] == [p.pk for p in again]
    assert len(stripe_on.calls("POST", "/v1/products")) == 2  # the two paid tiers; the free one never
    prices = stripe_on.calls("POST", "/v1/prices")
    assert [
        (c.params["unit_amount"], c.params.get("recurring"), c.params["tax_behavior"]) for c in prices
    ] == [
        ("4900", {"interval": "month"}, "exclusive"),
        ("9900", None, "exclusive"),
    ]
    assert prices[0].idempotency_key == f"price:{shop.product.pk}:{shop.monthly.key}:4900:usd:month"
    assert (
        stripe_on.calls("POST", "/v1/products")[0].idempotency_key
        == f"product:{shop.product.pk}:{shop.monthly.key}"
    )

    # The publisher raises the monthly price; approval of the new revision makes a new Price.
    listing_services.tier_update(
        actor=personas.owner, product=shop.product, key=shop.monthly.key, data={"price": Decimal("59.00")}
    )
    submitted = listing_services.revision_submit(actor=personas.owner, product=shop.product)
    listing_services.revision_approve(actor=moderator, revision=submitted)
    services.catalog_sync_for_revision(revision=submitted)
    amounts = sorted(
        StripePrice.objects.filter(stripe_product__tier_key=shop.monthly.key).values_list(
            "unit_amount", flat=True
        )
    )
    assert amounts == [4900, 5900]
    assert len(stripe_on.calls("POST", "/v1/products")) == 2  # same Stripe Product


def test_a_second_click_reuses_the_open_session(
    client, customer, shop: Catalog, stripe_on: FakeStripe
) -> None:
    client.force_login(customer)
    first = client.post(checkout_url(shop, shop.one_off))
    second = client.post(checkout_url(shop, shop.one_off))
    assert first["Location"] == second["Location"]
    assert Order.objects.count() == 1
    assert len(stripe_on.calls("POST", "/v1/checkout/sessions")) == 1


def test_a_retryable_500_is_retried_with_the_same_idempotency_key(
    client, customer, shop: Catalog, stripe_on: FakeStripe
) -> None:
    stripe_on.fail("POST", "/v1/checkout/sessions", status=500, should_retry=True)
    client.force_login(customer)
    response = client.post(checkout_url(shop, shop.one_off))
    order = Order.objects.get()
    assert response["Location"] == order.checkout_url
    calls = stripe_on.calls("POST", "/v1/checkout/sessions")
    assert [c.idempotency_key for c in calls] == [f"checkout:{order.pk}"] * 2


def test_stripe_answering_500_leaves_a_clear_message_and_the_retry_uses_the_same_order(
    client, customer, shop: Catalog, stripe_on: FakeStripe
) -> None:
    stripe_on.fail("POST", "/v1/checkout/sessions", status=500)
    client.force_login(customer)
    response = client.post(checkout_url(shop, shop.one_off), follow=True)
    assert "Stripe had a problem on its side; nothing was charged" in response.content.decode()
    order = Order.objects.get()
    assert order.checkout_url == ""
    client.post(checkout_url(shop, shop.one_off))
    order.refresh_from_db()
    assert order.checkout_url.startswith(stripe_on.url)
    assert Order.objects.count() == 1
    keys = {c.idempotency_key for c in stripe_on.calls("POST", "/v1/checkout/sessions")}
    assert keys == {f"checkout:{order.pk}"}


def test_stripe_timing_out_says_so(client, customer, shop: Catalog, stripe_on: FakeStripe, settings) -> None:
    settings.STRIPE_TIMEOUT_SECONDS = 0.3
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    stripe_on.fail("POST", "/v1/checkout/sessions", status=200, delay=1.0)
    client.force_login(customer)
    response = client.post(checkout_url(shop, shop.one_off), follow=True)
    assert "Stripe did not answer in time; nothing was charged" in response.content.decode()
    assert Order.objects.get().checkout_url == ""


def test_api_checkout_answers_the_url(api_client, customer, shop: Catalog, stripe_on: FakeStripe) -> None:
    api_client.force_authenticate(customer)
    response = api_client.post(f"/api/v1/tiers/{shop.one_off.pk}/checkout/")
    assert response.status_code == 200
    assert response.json() == {"checkout_url": Order.objects.get().checkout_url}


def test_api_checkout_when_stripe_fails_answers_503_with_a_clear_message(
    api_client, customer, shop: Catalog, stripe_on: FakeStripe
) -> None:
    stripe_on.fail("POST", "/v1/checkout/sessions", status=500)
    api_client.force_authenticate(customer)
    response = api_client.post(f"/api/v1/tiers/{shop.one_off.pk}/checkout/")
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "payment_unavailable"
    assert error["message"].startswith("Stripe had a problem on its side; nothing was charged.")


def test_api_checkout_of_a_free_tier_or_an_old_revision_is_refused(
    api_client, customer, shop: Catalog
) -> None:
    api_client.force_authenticate(customer)
    response = api_client.post(f"/api/v1/tiers/{shop.free.pk}/checkout/")
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "This tier is free; get it without checkout."
    assert api_client.post("/api/v1/tiers/999999/checkout/").status_code == 404


def test_payments_wait_for_the_publisher_payout_account(
    client, customer, catalog: Catalog, stripe_on: FakeStripe
) -> None:
    """A live paid tier whose publisher's Stripe account later stopped taking payouts."""
    PayoutAccount.objects.filter(publisher=catalog.product.publisher).update(payouts_enabled=False)
    client.force_login(customer)
    response = client.post(checkout_url(catalog, catalog.one_off), follow=True)
    assert "cannot take payments yet" in response.content.decode()
    assert stripe_on.calls("POST", "/v1/checkout/sessions") == []


def test_without_keys_paid_tiers_say_payment_is_not_configured(
    client, api_client, customer, catalog: Catalog, stripe_off
) -> None:
    client.force_login(customer)
    page = client.get(f"/billing/products/acme/{catalog.product.slug}/").content.decode()
    assert page.count("Payment is not configured on this store yet.") == 2
    assert '<button type="submit">Get</button>' in page
    response = client.post(checkout_url(catalog, catalog.one_off), follow=True)
    assert "Payment is not configured on this store" in response.content.decode()
    api_client.force_authenticate(customer)
    response = api_client.post(f"/api/v1/tiers/{catalog.monthly.pk}/checkout/")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "payment_not_configured"
    assert services.catalog_sync_for_revision(revision=catalog.product.live_revision) == []


def test_cancel_page_returns_to_the_product(client, customer, shop: Catalog, stripe_on: FakeStripe) -> None:
    client.force_login(customer)
    client.post(checkout_url(shop, shop.one_off))
    order = Order.objects.get()
    response = client.get(f"/billing/checkout/{order.public_id}/cancel/", follow=True)
    assert response.redirect_chain[-1][0] == shop.product.get_absolute_url()
    assert "Checkout cancelled: nothing was charged." in response.content.decode()
    order.refresh_from_db()
    assert order.status == "cancelled"


def test_approving_a_changed_price_syncs_the_stripe_catalog_after_commit(
    shop: Catalog, stripe_on: FakeStripe, personas, moderator, django_capture_on_commit_callbacks
) -> None:
    listing_services.tier_update(
        actor=personas.owner, product=shop.product, key=shop.monthly.key, data={"price": Decimal("59.00")}
    )
    submitted = listing_services.revision_submit(actor=personas.owner, product=shop.product)
    with django_capture_on_commit_callbacks(execute=True):
        listing_services.revision_approve(actor=moderator, revision=submitted)
    amounts = [c.params["unit_amount"] for c in stripe_on.calls("POST", "/v1/prices")]
    assert "5900" in amounts
    assert AuditEvent.objects.filter(
        event_type=EventType.CATALOG_SYNCED, target_id=str(shop.product.pk)
    ).exists()

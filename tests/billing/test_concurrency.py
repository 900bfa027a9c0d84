"""Two deliveries at the same moment, on real PostgreSQL transactions in parallel threads."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from billing.models import LedgerEntry, Licence, Order, StripeEvent
from tests.billing.fake_stripe import FakeStripe
from tests.billing.helpers import Catalog, post_event

pytestmark = pytest.mark.django_db(transaction=True)


def in_parallel(*events: dict[str, Any]) -> list[int]:
    barrier = threading.Barrier(len(events))
    statuses: list[int] = []

    def deliver(event: dict[str, Any]) -> None:
        try:
            barrier.wait()
            statuses.append(post_event(Client(), event).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver, args=(event,)) for event in events]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return statuses


def test_one_event_delivered_twice_at_once_counts_once(
    client, customer, shop: Catalog, stripe_on: FakeStripe, mailoutbox
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL's row locks")
    client.force_login(customer)
    client.post(f"/billing/products/{shop.product.pk}/tiers/{shop.one_off.key}/checkout/")
    [completed] = stripe_on.complete_checkout(Order.objects.get().stripe_session_id)

    assert sorted(in_parallel(completed, completed, completed)) == [200, 200, 200]
    assert StripeEvent.objects.count() == 1
    assert StripeEvent.objects.get().processed_at is not None
    assert Licence.objects.count() == 1
    assert sorted(LedgerEntry.objects.values_list("kind", flat=True)) == [
        "application_fee",
        "payment",
        "tax",
        "transfer",
    ]
    receipts = [m.subject for m in mailoutbox if m.to == [customer.email]]
    assert receipts == ["Receipt: Acme Postgres · Lifetime"]  # one receipt


def test_two_events_about_one_subscription_at_once_make_one_licence(
    client, customer, shop: Catalog, stripe_on: FakeStripe
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL's row locks")
    Licence.objects.create(
        user=customer,
        product=shop.product,
        tier_key=shop.monthly.key,
        tier_name="Standard",
        status="expired",
        source="trial",
    )
    client.force_login(customer)
    client.post(f"/billing/products/{shop.product.pk}/tiers/{shop.monthly.key}/checkout/")
    completed, invoice_paid = stripe_on.complete_checkout(Order.objects.get().stripe_session_id)

    assert sorted(in_parallel(completed, invoice_paid)) == [200, 200]
    assert StripeEvent.objects.filter(processed_at__isnull=False).count() == 2
    licence = Licence.objects.get()
    assert licence.status == "active"
    assert LedgerEntry.objects.filter(kind="payment").count() == 1

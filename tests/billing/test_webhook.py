"""The Stripe webhook: verification, storing once, and every event converging to one right state."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest

from audit.models import AuditEvent, EventType
from billing import services
from billing.models import LedgerEntry, Licence, PayoutAccount, StripeEvent
from tests.billing.fake_stripe import FakeStripe, sign
from tests.billing.helpers import WEBHOOK_URL, Catalog, buy, ledger, paid_subscription, post_event

pytestmark = pytest.mark.django_db


# -- verification -----------------------------------------------------------------------------


@pytest.mark.usefixtures("stripe_on")
@pytest.mark.parametrize(
    ("how", "reason"),
    [
        ("tampered", "body changed after signing"),
        ("wrong_secret", "signed with another secret"),
        ("stale", "timestamp older than 5 minutes"),
        ("missing", "no Stripe-Signature header"),
        ("malformed", "signed, but not JSON"),
    ],
)
def test_bad_webhooks_answer_400_and_change_nothing(client, how: str, reason: str) -> None:
    event = {"id": "evt_bad", "type": "checkout.session.completed", "created": 1, "data": {"object": {}}}
    payload = json.dumps(event)
    if how == "tampered":
        header = sign(payload, "whsec_test_fake")
        response = client.post(
            WEBHOOK_URL,
            data=payload.replace("evt_bad", "evt_bad2"),
            content_type="application/json",
            HTTP_STRIPE_SIGNATURE=header,
        )
    elif how == "wrong_secret":
        response = post_event(client, event, secret="whsec_someone_else")
    elif how == "stale":
        response = post_event(client, event, timestamp=int(time.time()) - 301)
    elif how == "missing":
        response = client.post(WEBHOOK_URL, data=payload, content_type="application/json")
    else:
        response = post_event(client, "{not json")
    assert response.status_code == 400, reason
    assert StripeEvent.objects.count() == 0


def test_without_a_webhook_secret_every_event_is_refused(client, stripe_off) -> None:
    response = post_event(client, {"id": "evt_1", "type": "x", "created": 1, "data": {"object": {}}})
    assert response.status_code == 400
    assert StripeEvent.objects.count() == 0


def test_get_is_not_allowed(client) -> None:
    assert client.get(WEBHOOK_URL).status_code == 405


@pytest.mark.usefixtures("stripe_on")
def test_an_unknown_event_type_is_stored_and_ignored(deliver, stripe_on: FakeStripe) -> None:
    [response] = deliver(stripe_on.event("customer.created", {"id": "cus_1"}))
    assert response.status_code == 200
    event = StripeEvent.objects.get()
    assert event.processed_at is not None
    assert event.outcome == "ignored: unhandled type"


def test_an_event_for_an_unknown_session_grants_nothing(deliver, stripe_on: FakeStripe) -> None:
    session = {
        "id": "cs_elsewhere",
        "mode": "payment",
        "payment_status": "paid",
        "metadata": {},
        "client_reference_id": None,
    }
    [response] = deliver(stripe_on.event("checkout.session.completed", session))
    assert response.status_code == 200
    assert Licence.objects.count() == 0
    assert StripeEvent.objects.get().outcome == "ignored: session cs_elsewhere names no order of ours"


# -- one-off purchases ------------------------------------------------------------------------


def test_one_off_purchase_grants_a_licence_and_writes_the_ledger_once(
    client, customer, shop: Catalog, stripe_on: FakeStripe, deliver
) -> None:
    order, events = buy(client, customer, shop, stripe_on, shop.one_off)
    first, duplicate = deliver(events[0], events[0])
    assert first.json() == {"received": True, "duplicate": False}
    assert duplicate.json() == {"received": True, "duplicate": True}

    licence = Licence.objects.get()
    assert (licence.status, licence.source, licence.current_period_end) == ("active", "purchase", None)
    assert (licence.tier_key, licence.tier_name, str(licence.price)) == (
        shop.one_off.key,
        "Lifetime",
        "99.00",
    )
    assert licence.stripe_payment_intent_id.startswith("pi_")
    # 99.00 + 10% tax; the store keeps 20% of 99.00; the publisher gets the rest.
    assert ledger() == [("payment", 10890), ("tax", 990), ("application_fee", 1980), ("transfer", 7920)]
    entry = LedgerEntry.objects.get(kind="payment")
    assert (entry.publisher, entry.product, entry.tier_key, entry.customer, entry.currency) == (
        shop.product.publisher,
        shop.product,
        shop.one_off.key,
        customer,
        "USD",
    )
    order.refresh_from_db()
    assert (order.status, order.licence) == ("completed", licence)
    types = list(
        AuditEvent.objects.filter(target_type="billing.licence").values_list("event_type", flat=True)
    )
    assert sorted(types) == sorted(
        [EventType.LICENCE_GRANTED, EventType.PAYMENT_RECEIVED, EventType.TAX_RECORDED]
    )

    # Replaying the event (admin action) changes nothing either.
    services.event_replay(event=StripeEvent.objects.get())
    assert ledger() == [("payment", 10890), ("tax", 990), ("application_fee", 1980), ("transfer", 7920)]
    assert Licence.objects.count() == 1


def test_success_page_waits_for_the_webhook_then_shows_the_pull_command(
    client, customer, shop: Catalog, stripe_on: FakeStripe, deliver
) -> None:
    order, events = buy(client, customer, shop, stripe_on, shop.one_off)
    page = client.get(f"/billing/checkout/{order.public_id}/success/").content.decode()
    assert "Confirming your payment" in page
    status = f"/billing/checkout/{order.public_id}/status/"
    assert client.get(status).json() == {"order": "open", "licence": None, "ready": False}
    deliver(*events)
    assert client.get(status).json() == {"order": "completed", "licence": "active", "ready": True}
    page = client.get(f"/billing/checkout/{order.public_id}/success/").content.decode()
    assert "docker login registry.example.com" in page
    assert "docker pull registry.example.com/acme/acme-postgres-lifetime:15" in page


def test_another_customer_cannot_see_my_order(
    client, customer, shop: Catalog, stripe_on: FakeStripe, personas
) -> None:
    order, _ = buy(client, customer, shop, stripe_on, shop.one_off)
    client.force_login(personas.outsider)
    assert client.get(f"/billing/checkout/{order.public_id}/success/").status_code == 404


# -- subscriptions ----------------------------------------------------------------------------


def test_a_trial_subscription_starts_trialing_without_money(
    client, customer, shop: Catalog, stripe_on: FakeStripe, deliver
) -> None:
    _order, events = buy(client, customer, shop, stripe_on, shop.monthly)
    deliver(*events)
    licence = Licence.objects.get()
    assert (licence.status, licence.source) == ("trialing", "trial")
    assert licence.stripe_subscription_id.startswith("sub_")
    assert licence.current_period_end is not None
    assert ledger() == []
    # Subscription state is read from Stripe, not from the event.
    assert stripe_on.calls("GET", f"/v1/subscriptions/{licence.stripe_subscription_id}")


def test_first_invoice_is_counted_once_whichever_event_comes_first(
    client, customer, shop: Catalog, stripe_on: FakeStripe, deliver
) -> None:
    order, (completed, invoice_paid) = paid_subscription(client, customer, shop, stripe_on)
    call = stripe_on.calls("POST", "/v1/checkout/sessions")[0]
    assert "trial_period_days" not in call.params["subscription_data"]
    deliver(invoice_paid, completed, invoice_paid)
    licence = Licence.objects.get()
    assert (licence.status, licence.source) == ("active", "purchase")
    assert ledger() == [("payment", 5390), ("tax", 490), ("application_fee", 980), ("transfer", 3920)]
    order.refresh_from_db()
    assert order.status == "completed"


def test_subscription_deleted_before_invoice_paid_ends_cancelled_with_the_payment_recorded(
    client, customer, shop: Catalog, stripe_on: FakeStripe, deliver
) -> None:
    _order, (completed, invoice_paid) = paid_subscription(client, customer, shop, stripe_on)
    subscription = stripe_on.objects[
        invoice_paid["data"]["object"]["parent"]["subscription_details"]["subscription"]
    ]
    subscription["status"] = "canceled"
    deleted = stripe_on.event("customer.subscription.deleted", subscription)
    deliver(deleted, invoice_paid, completed)
    licence = Licence.objects.get()
    assert licence.status == "cancelled"
    assert [k for k, _ in ledger()] == ["payment", "tax", "application_fee", "transfer"]


def test_renewals_and_failed_payments_follow_the_subscription(
    client, customer, shop: Catalog, stripe_on: FakeStripe, deliver
) -> None:
    _order, events = paid_subscription(client, customer, shop, stripe_on)
    deliver(*events)
    licence = Licence.objects.get()
    subscription = stripe_on.objects[licence.stripe_subscription_id]

    subscription["status"] = "past_due"
    failed = stripe_on.invoice(subscription, paid=0, tax=0)
    deliver(stripe_on.event("invoice.payment_failed", failed))
    licence.refresh_from_db()
    assert licence.status == "past_due"

    subscription["status"] = "active"
    subscription["items"]["data"][0]["current_period_end"] += 30 * 86400
    deliver(stripe_on.event("invoice.paid", stripe_on.invoice(subscription, paid=5390, tax=490)))
    licence.refresh_from_db()
    assert licence.status == "active"
    assert [k for k, _ in ledger()].count("payment") == 2


def test_cancel_at_period_end_keeps_access_until_stripe_deletes_the_subscription(
    client, customer, shop: Catalog, stripe_on: FakeStripe, deliver
) -> None:
    _order, events = paid_subscription(client, customer, shop, stripe_on)
    deliver(*events)
    licence = Licence.objects.get()
    response = client.post(f"/billing/licences/{licence.pk}/cancel/", follow=True)
    assert "you keep access until" in response.content.decode()
    [call] = stripe_on.calls("POST", f"/v1/subscriptions/{licence.stripe_subscription_id}")
    assert call.params == {"cancel_at_period_end": "true"}
    assert call.idempotency_key == f"cancel:{licence.pk}:{licence.stripe_subscription_id}"
    licence.refresh_from_db()
    assert (licence.status, licence.cancel_at_period_end) == ("active", True)

    subscription = stripe_on.objects[licence.stripe_subscription_id]
    subscription["status"] = "canceled"
    deliver(stripe_on.event("customer.subscription.deleted", subscription))
    licence.refresh_from_db()
    assert licence.status == "cancelled"


# -- refunds and disputes ---------------------------------------------------------------------


def test_publisher_owner_refunds_a_payment_and_the_webhook_marks_the_licence_refunded(
    client, customer, shop: Catalog, stripe_on: FakeStripe, deliver, personas
) -> None:
    _order, events = buy(client, customer, shop, stripe_on, shop.one_off)
    deliver(*events)
    payment = LedgerEntry.objects.get(kind="payment")
    client.force_login(personas.owner)
    response = client.post(f"/billing/publishers/acme/sales/{payment.pk}/refund/", follow=True)
    assert "Refund requested" in response.content.decode()
    [call] = stripe_on.calls("POST", "/v1/refunds")
    assert call.params == {
        "payment_intent": payment.payment_intent_id,
        "reverse_transfer": "true",
        "refund_application_fee": "true",
        "metadata": {"ledger_entry_id": str(payment.pk), "licence_id": str(payment.licence_id)},
    }
    assert call.idempotency_key == f"refund:{payment.pk}:10890"
    licence = Licence.objects.get()
    assert licence.status == "active"  # until Stripe confirms

    charge = stripe_on.charge_for(payment.payment_intent_id)
    refunded = stripe_on.event("charge.refunded", charge)
    deliver(refunded, refunded)
    licence.refresh_from_db()
    assert licence.status == "refunded"
    assert ledger()[-1] == ("refund", 10890)
    assert LedgerEntry.objects.filter(kind="refund").count() == 1
    assert AuditEvent.objects.filter(event_type=EventType.REFUND_RECORDED).count() == 1
    # Nothing left to refund.
    response = client.post(f"/billing/publishers/acme/sales/{payment.pk}/refund/", follow=True)
    assert "already been refunded" in response.content.decode()


def test_a_refund_after_cancellation_ends_refunded(
    client, customer, shop, stripe_on: FakeStripe, deliver, personas
) -> None:
    _order, events = paid_subscription(client, customer, shop, stripe_on)
    deliver(*events)
    licence = Licence.objects.get()
    subscription = stripe_on.objects[licence.stripe_subscription_id]
    subscription["status"] = "canceled"
    deliver(stripe_on.event("customer.subscription.deleted", subscription))
    payment = LedgerEntry.objects.get(kind="payment")
    services.payment_refund(actor=personas.owner, payment=payment)
    deliver(stripe_on.event("charge.refunded", stripe_on.charge_for(payment.payment_intent_id)))
    licence.refresh_from_db()
    assert licence.status == "refunded"
    assert ledger(licence).count(("refund", 5390)) == 1
    # A late subscription event does not bring it back.
    deliver(stripe_on.event("customer.subscription.updated", subscription))
    licence.refresh_from_db()
    assert licence.status == "refunded"


def test_a_refund_seen_before_its_payment_waits_for_the_reconcile(
    client, customer, shop, stripe_on: FakeStripe, deliver, settings
) -> None:
    _order, events = buy(client, customer, shop, stripe_on, shop.one_off)
    intent = events[0]["data"]["object"]["payment_intent"]
    charge = stripe_on.charge_for(intent)
    charge.update(amount_refunded=charge["amount"], refunded=True)
    stripe_on.objects["re_test_early"] = {
        "id": "re_test_early",
        "object": "refund",
        "amount": charge["amount"],
        "charge": charge["id"],
        "status": "succeeded",
        "created": 1,
    }
    deliver(stripe_on.event("charge.refunded", charge))
    waiting = StripeEvent.objects.get(type="charge.refunded")
    assert waiting.processed_at is None
    assert waiting.outcome.startswith("waiting: payment")

    deliver(events[0])
    StripeEvent.objects.update(received_at=waiting.received_at.replace(year=2000))
    assert services.events_reconcile() >= 1
    waiting.refresh_from_db()
    assert waiting.processed_at is not None
    assert Licence.objects.get().status == "refunded"


def test_a_dispute_is_audited(client, customer, shop, stripe_on: FakeStripe, deliver) -> None:
    _order, events = buy(client, customer, shop, stripe_on, shop.one_off)
    deliver(*events)
    intent = events[0]["data"]["object"]["payment_intent"]
    deliver(
        stripe_on.event(
            "charge.dispute.created",
            {
                "id": "dp_1",
                "payment_intent": intent,
                "amount": 10890,
                "currency": "usd",
                "reason": "fraudulent",
            },
        )
    )
    event = AuditEvent.objects.get(event_type=EventType.DISPUTE_OPENED)
    assert event.data["amount"] == 10890


# -- reconcile and Connect --------------------------------------------------------------------


def test_reconcile_stores_and_processes_events_that_never_arrived(
    client, customer, shop, stripe_on: FakeStripe
) -> None:
    _order, _events = buy(client, customer, shop, stripe_on, shop.one_off)
    # The webhook delivery was lost; Stripe still lists the event.
    assert StripeEvent.objects.count() == 0
    services.events_reconcile(settle=timedelta(0))
    assert StripeEvent.objects.get().processed_at is not None
    assert Licence.objects.get().status == "active"
    [call] = stripe_on.calls("GET", "/v1/events")
    assert set(call.params) == {"created", "limit"}


def test_account_updated_reads_the_current_account_state(stripe_on: FakeStripe, personas, deliver) -> None:
    account = PayoutAccount.objects.create(publisher=personas.acme, stripe_account_id="acct_test_late")
    current = stripe_on.add_account("acct_test_late", ready=True)
    stale = {**current, "payouts_enabled": False, "charges_enabled": False}
    deliver(stripe_on.event("account.updated", stale))
    account.refresh_from_db()
    assert (account.charges_enabled, account.payouts_enabled) == (True, True)
    assert (
        AuditEvent.objects.filter(
            event_type=EventType.PAYOUTS_STATUS_CHANGED, publisher=personas.acme
        ).count()
        == 1
    )


def test_a_delayed_payment_grants_when_it_succeeds_and_cancels_the_order_when_it_fails(
    client, customer, shop: Catalog, stripe_on: FakeStripe, deliver, personas
) -> None:
    _order, [completed] = buy(client, customer, shop, stripe_on, shop.one_off)
    session = completed["data"]["object"]
    deliver(stripe_on.event("checkout.session.completed", {**session, "payment_status": "unpaid"}))
    assert StripeEvent.objects.get().outcome == "waiting for a delayed payment"
    assert Licence.objects.count() == 0
    deliver(stripe_on.event("checkout.session.async_payment_succeeded", session))
    assert Licence.objects.get().status == "active"
    assert [k for k, _ in ledger()] == ["payment", "tax", "application_fee", "transfer"]

    other, [failed] = buy(client, personas.outsider, shop, stripe_on, shop.one_off)
    deliver(stripe_on.event("checkout.session.async_payment_failed", failed["data"]["object"]))
    other.refresh_from_db()
    assert other.status == "cancelled"
    assert Licence.objects.count() == 1

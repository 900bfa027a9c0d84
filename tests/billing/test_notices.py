"""What customers are told by email, staff grants from the admin, and the published API contract."""

from __future__ import annotations

import smtplib
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from audit.models import AuditEvent, EventType
from billing import services, tasks
from billing.models import LedgerEntry, Licence, StripeEvent
from tests.billing.fake_stripe import FakeStripe
from tests.billing.helpers import Catalog, buy, paid_subscription
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def subjects(mailoutbox) -> list[str]:
    return [m.subject for m in mailoutbox]


# -- emails -----------------------------------------------------------------------------------


def test_a_free_licence_is_announced_once_after_commit(
    client, customer, catalog: Catalog, mailoutbox, django_capture_on_commit_callbacks
) -> None:
    client.force_login(customer)
    url = f"/billing/products/{catalog.product.pk}/tiers/{catalog.free.key}/get/"
    with django_capture_on_commit_callbacks(execute=False) as queued:
        client.post(url, {"accept_licence": "on"})
    assert mailoutbox == []  # nothing is sent before the grant commits
    for callback in queued:
        callback()
    [mail] = mailoutbox
    assert mail.to == [customer.email]
    assert mail.subject == "Acme Postgres · Free is yours"
    assert "You accepted its licence agreement (revision 1" in mail.body
    assert "docker pull" in mail.body
    # Getting it again while it is active grants nothing new and sends nothing.
    with django_capture_on_commit_callbacks(execute=True):
        client.post(url, {"accept_licence": "on"})
    assert len(mailoutbox) == 1


def test_a_one_off_purchase_sends_one_receipt_with_tax_and_the_pull_command(
    client, customer, shop: Catalog, stripe_on: FakeStripe, deliver, mailoutbox
) -> None:
    _order, events = buy(client, customer, shop, stripe_on, shop.one_off)
    deliver(events[0], events[0])
    services.event_replay(event=StripeEvent.objects.get())  # the admin's replay sends nothing either
    [mail] = mailoutbox
    assert mail.subject == "Receipt: Acme Postgres · Lifetime"
    assert "Lifetime: 99.00 USD" in mail.body
    assert "Tax: 9.90 USD" in mail.body
    assert "Total paid: 108.90 USD" in mail.body
    assert "Your licence does not expire." in mail.body
    assert "docker pull registry.example.com/acme/acme-postgres-lifetime:15" in mail.body
    assert mail.alternatives and "108.90 USD" in mail.alternatives[0][0]


def test_a_trial_is_announced_once_and_its_end_is_announced_once(
    client, customer, shop: Catalog, stripe_on: FakeStripe, deliver, mailoutbox
) -> None:
    _order, events = buy(client, customer, shop, stripe_on, shop.monthly)
    deliver(*events)
    assert subjects(mailoutbox) == ["Your trial of Acme Postgres · Standard has started"]
    licence = Licence.objects.get()
    subscription = stripe_on.objects[licence.stripe_subscription_id]

    ending = stripe_on.event("customer.subscription.trial_will_end", subscription)
    deliver(ending, ending, stripe_on.event("customer.subscription.trial_will_end", subscription))
    assert len(mailoutbox) == 2
    mail = mailoutbox[1]
    assert mail.subject.startswith("Your trial of Acme Postgres · Standard ends ")
    assert "49.00 USD / month plus any tax" in mail.body
    assert (
        AuditEvent.objects.filter(
            event_type=EventType.LICENCE_TRIAL_ENDING, target_id=str(licence.pk)
        ).count()
        == 1
    )


def test_a_cancelled_trial_is_told_that_nothing_will_be_charged(
    client, customer, shop: Catalog, stripe_on: FakeStripe, deliver, mailoutbox
) -> None:
    _order, events = buy(client, customer, shop, stripe_on, shop.monthly)
    deliver(*events)
    subscription = stripe_on.objects[Licence.objects.get().stripe_subscription_id]
    subscription["cancel_at_period_end"] = True
    deliver(stripe_on.event("customer.subscription.trial_will_end", subscription))
    assert "nothing will be charged" in mailoutbox[-1].body


def test_a_trial_notice_that_arrives_after_the_trial_ended_sends_nothing(
    client, customer, shop: Catalog, stripe_on: FakeStripe, deliver, mailoutbox
) -> None:
    _order, events = buy(client, customer, shop, stripe_on, shop.monthly)
    deliver(*events)
    subscription = stripe_on.objects[Licence.objects.get().stripe_subscription_id]
    stale = stripe_on.event("customer.subscription.trial_will_end", subscription)
    subscription["status"] = "active"  # Stripe's current state: the trial is over
    deliver(stale)
    assert len(mailoutbox) == 1  # only "trial started"
    assert not AuditEvent.objects.filter(event_type=EventType.LICENCE_TRIAL_ENDING).exists()


def test_renewal_receipts_and_failed_payments_are_sent_once_per_invoice_attempt(
    client, customer, shop: Catalog, stripe_on: FakeStripe, deliver, mailoutbox
) -> None:
    _order, events = paid_subscription(client, customer, shop, stripe_on)
    deliver(*events)
    assert subjects(mailoutbox) == ["Receipt: Acme Postgres · Standard"]  # a paid start: the receipt only
    licence = Licence.objects.get()
    subscription = stripe_on.objects[licence.stripe_subscription_id]

    subscription["status"] = "past_due"
    failed = stripe_on.invoice(subscription, paid=0, tax=0, due=5390, reason="subscription_cycle", attempt=1)
    failed["next_payment_attempt"] = int(datetime(2031, 1, 5, tzinfo=UTC).timestamp())
    first = stripe_on.event("invoice.payment_failed", failed)
    deliver(first, first, stripe_on.event("invoice.payment_failed", failed))
    licence.refresh_from_db()
    assert licence.status == "past_due"
    assert len(mailoutbox) == 2
    mail = mailoutbox[1]
    assert mail.subject == "Payment failed for Acme Postgres · Standard"
    assert "53.90 USD" in mail.body and "5 January 2031" in mail.body
    assert failed["hosted_invoice_url"] in mail.body
    audit = AuditEvent.objects.get(event_type=EventType.PAYMENT_FAILED)
    assert (audit.data["invoice"], audit.data["amount_due"], audit.data["attempt"]) == (failed["id"], 5390, 1)

    failed["attempt_count"] = 2  # Stripe's next retry fails too: a new notice
    deliver(stripe_on.event("invoice.payment_failed", failed))
    assert len(mailoutbox) == 3

    subscription["status"] = "active"
    deliver(
        stripe_on.event(
            "invoice.paid", stripe_on.invoice(subscription, paid=5390, tax=490, reason="subscription_cycle")
        )
    )
    assert mailoutbox[-1].subject == "Receipt: Acme Postgres · Standard renewed"
    assert "has renewed" in mailoutbox[-1].body


def test_a_refund_is_confirmed_to_the_customer_once(
    client, customer, shop: Catalog, stripe_on: FakeStripe, deliver, personas, mailoutbox
) -> None:
    _order, events = buy(client, customer, shop, stripe_on, shop.one_off)
    deliver(*events)
    payment = LedgerEntry.objects.get(kind="payment")
    services.payment_refund(actor=personas.owner, payment=payment)
    refunded = stripe_on.event("charge.refunded", stripe_on.charge_for(payment.payment_intent_id))
    deliver(refunded, refunded)
    assert subjects(mailoutbox) == ["Receipt: Acme Postgres · Lifetime", "Refund: Acme Postgres · Lifetime"]
    assert "We have refunded 108.90 USD" in mailoutbox[1].body
    assert "The licence has ended with the refund" in mailoutbox[1].body
    assert "docker pull" not in mailoutbox[1].body


def test_inactive_customers_get_no_email_and_a_mail_server_outage_is_retried(
    customer, catalog: Catalog, mailoutbox
) -> None:
    licence = Licence.objects.create(
        user=customer, product=catalog.product, tier_key=catalog.free.key, tier_name="Free", source="free"
    )
    with mock.patch("billing.tasks.send_templated", side_effect=smtplib.SMTPServerDisconnected("down")):
        with pytest.raises(smtplib.SMTPServerDisconnected):
            tasks.send_licence_email.run("licence_granted", licence.pk, {})
    assert issubclass(smtplib.SMTPServerDisconnected, tasks.send_licence_email.autoretry_for)
    customer.is_active = False
    customer.save()
    assert tasks.send_licence_email("licence_granted", licence.pk, {}) == 0
    assert mailoutbox == []
    with pytest.raises(ValueError):
        tasks.send_licence_email("free_money", licence.pk, {})


# -- staff grants -----------------------------------------------------------------------------


@pytest.fixture
def granter(db):
    user = UserFactory(email="support@store.example.com", full_name="Sam Support", is_staff=True)
    user.user_permissions.add(
        Permission.objects.get(codename="grant_licence"), Permission.objects.get(codename="view_licence")
    )
    return type(user).objects.get(pk=user.pk)


def test_staff_grant_a_licence_from_the_admin_audited_and_announced(
    client, granter, customer, catalog: Catalog, mailoutbox, django_capture_on_commit_callbacks
) -> None:
    client.force_login(granter)
    changelist = client.get("/admin/billing/licence/").content.decode()
    assert "/admin/billing/licence/grant/" in changelist
    form = client.get("/admin/billing/licence/grant/").content.decode()
    assert "acme/acme-postgres · Lifetime" in form
    last_day = (timezone.now() + timedelta(days=30)).date()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/admin/billing/licence/grant/",
            {
                "email": customer.email.upper(),
                "tier": catalog.one_off.pk,
                "last_day": last_day.isoformat(),
                "reason": "Support case 1234: card charged twice",
            },
            follow=True,
        )
    assert "Licence granted" in response.content.decode()
    licence = Licence.objects.get()
    assert (licence.user, licence.tier_key, licence.source, licence.status) == (
        customer,
        catalog.one_off.key,
        "staff",
        "active",
    )
    assert licence.current_period_end == datetime.combine(
        last_day + timedelta(days=1), datetime.min.time(), UTC
    )
    event = AuditEvent.objects.get(event_type=EventType.LICENCE_GRANTED)
    assert event.actor == granter
    assert event.data["reason"] == "Support case 1234: card charged twice"
    assert event.data["source"] == "staff"
    [mail] = mailoutbox
    assert "has granted you a licence for Acme Postgres · Lifetime" in mail.body
    client.force_login(customer)  # the customer's view: a grant ends, it does not renew
    row = client.get("/billing/licences/").content.decode()
    assert '<td class="period">Ends ' in row and '<td class="period">Renews' not in row


def test_a_grant_needs_the_permission_a_live_tier_a_known_customer_and_a_future_end(
    client, granter, moderator, customer, catalog: Catalog
) -> None:
    viewer = UserFactory(email="licence-viewer@store.example.com", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_licence"))
    client.force_login(viewer)  # staff who may view licences but not grant them
    assert "/admin/billing/licence/grant/" not in client.get("/admin/billing/licence/").content.decode()
    assert client.get("/admin/billing/licence/grant/").status_code == 403
    client.force_login(moderator)  # the Moderators group may grant
    assert "/admin/billing/licence/grant/" in client.get("/admin/billing/licence/").content.decode()

    client.force_login(granter)
    response = client.post(
        "/admin/billing/licence/grant/",
        {"email": "nobody@example.com", "tier": catalog.free.pk, "reason": "x"},
    )
    assert "No active account has this email address." in response.content.decode()
    response = client.post(
        "/admin/billing/licence/grant/",
        {"email": customer.email, "tier": catalog.free.pk, "last_day": "2001-01-01", "reason": "x"},
    )
    assert "The end of the licence must be in the future." in response.content.decode()
    assert Licence.objects.count() == 0


def test_a_grant_does_not_override_a_running_subscription(customer, catalog: Catalog, personas) -> None:
    Licence.objects.create(
        user=customer,
        product=catalog.product,
        tier_key=catalog.monthly.key,
        tier_name="Standard",
        status="active",
        source="purchase",
        stripe_subscription_id="sub_1",
    )
    with pytest.raises(Exception, match="pays for this tier by subscription"):
        services.licence_grant(actor=personas.owner, user=customer, tier=catalog.monthly, reason="x")


# -- publishers see the store's share; the API contract ---------------------------------------


def test_publishers_see_the_store_revenue_share(client, personas, settings) -> None:
    settings.STORE_REVENUE_SHARE_PERCENT = "17.5"
    client.force_login(personas.member)
    assert (
        "The store keeps <strong>17.5%</strong>"
        in client.get("/billing/publishers/acme/payouts/").content.decode()
    )
    assert "the store's 17.5% fee" in client.get("/billing/publishers/acme/sales/").content.decode()


def test_the_billing_api_is_in_the_openapi_schema(client) -> None:
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    paths = schema["paths"]
    assert "post" in paths["/api/v1/tiers/{tier_id}/checkout/"]
    assert "post" in paths["/api/v1/tiers/{tier_id}/accept-licence/"]
    assert "get" in paths["/api/v1/me/licences/"]
    assert "post" in paths["/api/v1/me/licences/{licence_id}/cancel/"]
    checkout = paths["/api/v1/tiers/{tier_id}/checkout/"]["post"]["responses"]["200"]
    ref = checkout["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert set(schema["components"]["schemas"][ref]["properties"]) == {"checkout_url"}

"""Free tiers, My licences, the API, publisher payouts and sales pages, and the admin."""

from __future__ import annotations

import pytest
from django.template import Context, Template
from django.test import RequestFactory

from audit.models import AuditEvent, EventType
from billing.models import LedgerEntry, Licence, PayoutAccount, StripeEvent
from tests.billing.fake_stripe import FakeStripe
from tests.billing.helpers import Catalog, post_event

pytestmark = pytest.mark.django_db


def get_url(catalog: Catalog, tier) -> str:
    return f"/billing/products/{catalog.product.pk}/tiers/{tier.key}/get/"


# -- free tiers -------------------------------------------------------------------------------


def test_getting_a_free_tier_needs_the_licence_accepted_and_records_its_version(
    client, customer, catalog: Catalog, stripe_off
) -> None:
    client.force_login(customer)
    refused = client.post(
        get_url(catalog, catalog.free), {"next": "/billing/products/acme/acme-postgres/"}, follow=True
    )
    assert "Accept the licence agreement to get this tier." in refused.content.decode()
    assert Licence.objects.count() == 0

    response = client.post(get_url(catalog, catalog.free), {"accept_licence": "on"}, follow=True)
    assert response.redirect_chain[-1][0] == "/billing/licences/"
    licence = Licence.objects.get()
    assert (licence.status, licence.source, licence.tier_key) == ("active", "free", catalog.free.key)
    assert licence.licence_url == "https://acme.example.com/licence"
    assert licence.licence_version == "revision 1"
    assert licence.licence_accepted_at is not None
    event = AuditEvent.objects.get(event_type=EventType.LICENCE_GRANTED)
    assert (event.actor, event.publisher, event.data["licence_version"]) == (
        customer,
        catalog.product.publisher,
        "revision 1",
    )


@pytest.mark.parametrize(
    "target",
    ["/\\evil.example.com/", "/\\/evil.example.com/", "/\t/evil.example.com/", "//evil.example.com/"],
)
def test_the_way_back_after_a_refusal_never_leaves_the_site(
    client, customer, catalog: Catalog, stripe_off, target: str
) -> None:
    # Browsers read "/\\host" (and "/<tab>/host") as "//host": another site.
    client.force_login(customer)
    response = client.post(get_url(catalog, catalog.free), {"next": target})
    assert response.status_code == 302
    assert response["Location"] == catalog.product.get_absolute_url()


def test_the_way_back_after_a_refusal_keeps_a_path_of_this_site(
    client, customer, catalog: Catalog, stripe_off
) -> None:
    client.force_login(customer)
    response = client.post(get_url(catalog, catalog.free), {"next": "/billing/products/acme/acme-postgres/"})
    assert response["Location"] == "/billing/products/acme/acme-postgres/"


def test_getting_a_paid_tier_for_free_is_refused(client, customer, catalog: Catalog) -> None:
    client.force_login(customer)
    response = client.post(get_url(catalog, catalog.one_off), {"accept_licence": "on"}, follow=True)
    assert "This tier has a price" in response.content.decode()
    assert Licence.objects.count() == 0


def test_anonymous_visitors_are_sent_to_log_in(client, catalog: Catalog) -> None:
    response = client.post(get_url(catalog, catalog.free), {"accept_licence": "on"})
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_tier_action_include(rf: RequestFactory, customer, catalog: Catalog, shop: Catalog) -> None:
    template = Template('{% include "billing/_tier_action.html" %}')
    request = rf.get("/")
    request.user = customer

    def render(tier) -> str:
        return template.render(
            Context({"product": catalog.product, "tier": tier, "user": customer, "request": request})
        )

    assert ">Get</button>" in render(catalog.free)
    assert "I accept the" in render(catalog.free)
    assert ">Start trial</button>" in render(catalog.monthly)
    assert ">Buy</button>" in render(catalog.one_off)
    Licence.objects.create(
        user=customer, product=catalog.product, tier_key=catalog.free.key, status="active", source="free"
    )
    assert "You have this" in render(catalog.free)


def test_api_accept_licence(api_client, customer, catalog: Catalog, settings) -> None:
    settings.REGISTRY_PUBLIC_HOST = "registry.example.com"
    api_client.force_authenticate(customer)
    refused = api_client.post(f"/api/v1/tiers/{catalog.free.pk}/accept-licence/", {}, format="json")
    assert refused.status_code == 400
    assert refused.json()["error"]["fields"] == {
        "accept_licence": ["Accept the licence agreement to get this tier."]
    }
    response = api_client.post(
        f"/api/v1/tiers/{catalog.free.pk}/accept-licence/", {"accept_licence": True}, format="json"
    )
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "active"
    assert body["product"] == "acme/acme-postgres"
    assert body["pull"] == "docker pull registry.example.com/acme/acme-postgres:15"


# -- My licences ------------------------------------------------------------------------------


def test_my_licences_page_shows_tier_status_dates_and_commands(
    client, customer, catalog: Catalog, settings
) -> None:
    settings.REGISTRY_PUBLIC_HOST = "registry.example.com"
    client.force_login(customer)
    client.post(get_url(catalog, catalog.free), {"accept_licence": "on"})
    page = client.get("/billing/licences/").content.decode()
    assert "Free" in page and "Active" in page and "Does not expire" in page
    assert "docker login registry.example.com" in page
    assert "docker pull registry.example.com/acme/acme-postgres:15" in page


def test_cancelling_a_free_licence_ends_it_now(client, customer, catalog: Catalog) -> None:
    client.force_login(customer)
    client.post(get_url(catalog, catalog.free), {"accept_licence": "on"})
    licence = Licence.objects.get()
    client.post(f"/billing/licences/{licence.pk}/cancel/")
    licence.refresh_from_db()
    assert licence.status == "cancelled"
    assert (
        AuditEvent.objects.filter(event_type=EventType.LICENCE_CANCEL_REQUESTED, actor=customer).count() == 1
    )


def test_nobody_cancels_someone_elses_licence(
    client, api_client, customer, catalog: Catalog, personas
) -> None:
    licence = Licence.objects.create(
        user=customer, product=catalog.product, tier_key=catalog.free.key, status="active", source="free"
    )
    client.force_login(personas.outsider)
    assert client.post(f"/billing/licences/{licence.pk}/cancel/").status_code == 404
    api_client.force_authenticate(personas.outsider)
    assert api_client.post(f"/api/v1/me/licences/{licence.pk}/cancel/").status_code == 404
    licence.refresh_from_db()
    assert licence.status == "active"


def test_api_lists_and_cancels_my_licences_in_constant_queries(
    api_client, customer, catalog: Catalog, django_assert_max_num_queries, personas
) -> None:
    for tier in (catalog.free, catalog.monthly, catalog.one_off):
        Licence.objects.create(
            user=customer,
            product=catalog.product,
            tier_key=tier.key,
            tier_name=tier.name,
            status="active",
            source="staff",
        )
    Licence.objects.create(
        user=personas.outsider,
        product=catalog.product,
        tier_key=catalog.free.key,
        status="active",
        source="free",
    )
    api_client.force_authenticate(customer)
    with django_assert_max_num_queries(4):
        response = api_client.get("/api/v1/me/licences/")
    assert response.json()["count"] == 3
    assert {row["tier_name"] for row in response.json()["results"]} == {"Free", "Standard", "Lifetime"}
    licence = Licence.objects.get(user=customer, tier_key=catalog.free.key)
    response = api_client.post(f"/api/v1/me/licences/{licence.pk}/cancel/")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    again = api_client.post(f"/api/v1/me/licences/{licence.pk}/cancel/")
    assert again.status_code == 400
    assert again.json()["error"]["message"] == "This licence is not active."


def test_billing_portal(client, customer, catalog: Catalog, stripe_on: FakeStripe) -> None:
    client.force_login(customer)
    response = client.post("/billing/portal/", follow=True)
    assert "no payments with the store yet" in response.content.decode()
    Licence.objects.create(
        user=customer,
        product=catalog.product,
        tier_key=catalog.one_off.key,
        status="active",
        source="purchase",
        stripe_customer_id="cus_test_1",
    )
    response = client.post("/billing/portal/")
    assert response["Location"] == f"{stripe_on.url}/portal/cus_test_1"
    [call] = stripe_on.calls("POST", "/v1/billing_portal/sessions")
    assert call.params == {"customer": "cus_test_1", "return_url": "http://testserver/billing/licences/"}


# -- publishers: payouts and sales ------------------------------------------------------------


def test_owner_connects_a_payout_account(client, personas, stripe_on: FakeStripe) -> None:
    client.force_login(personas.owner)
    page = client.get("/billing/publishers/acme/payouts/").content.decode()
    assert "Not connected" in page and "20%" in page
    response = client.post("/billing/publishers/acme/payouts/")
    account = PayoutAccount.objects.get(publisher=personas.acme)
    assert response["Location"] == f"{stripe_on.url}/onboarding/{account.stripe_account_id}"
    [create] = stripe_on.calls("POST", "/v1/accounts")
    assert create.params["type"] == "express"
    assert create.idempotency_key == f"account:{personas.acme.pk}"
    [link] = stripe_on.calls("POST", "/v1/account_links")
    assert link.params["return_url"] == "http://testserver/billing/publishers/acme/payouts/?return=1"
    assert link.params["type"] == "account_onboarding"

    stripe_on.objects[account.stripe_account_id].update(
        charges_enabled=True, payouts_enabled=True, details_submitted=True
    )
    page = client.get("/billing/publishers/acme/payouts/?return=1").content.decode()
    assert "Ready: your paid tiers can go live." in page


def test_payouts_and_sales_are_private_to_the_publisher(client, personas, stripe_on) -> None:
    client.force_login(personas.outsider)
    assert client.get("/billing/publishers/acme/payouts/").status_code == 404
    assert client.get("/billing/publishers/acme/sales/").status_code == 404
    client.force_login(personas.member)
    assert client.post("/billing/publishers/acme/payouts/").status_code == 403
    assert client.get("/billing/publishers/acme/sales/").status_code == 200


def _sale(catalog: Catalog, customer) -> LedgerEntry:
    licence = Licence.objects.create(
        user=customer,
        product=catalog.product,
        tier_key=catalog.one_off.key,
        tier_name="Lifetime",
        status="active",
        source="purchase",
        stripe_payment_intent_id="pi_1",
    )
    common = {
        "publisher": catalog.product.publisher,
        "product": catalog.product,
        "tier_key": catalog.one_off.key,
        "tier_name": "Lifetime",
        "customer": customer,
        "licence": licence,
        "currency": "USD",
        "payment_intent_id": "pi_1",
        "stripe_object_id": "pi_1",
    }
    for kind, amount in (("tax", 990), ("application_fee", 1980), ("transfer", 7920)):
        LedgerEntry.objects.create(kind=kind, amount=amount, **common)
    return LedgerEntry.objects.create(kind="payment", amount=10890, **common)


def test_sales_page_totals_and_refund_buttons_only_for_owners(
    client, personas, customer, catalog: Catalog
) -> None:
    payment = _sale(catalog, customer)
    LedgerEntry.objects.create(
        kind="refund",
        amount=5445,
        **{
            **{
                f: getattr(payment, f)
                for f in (
                    "publisher",
                    "product",
                    "tier_key",
                    "tier_name",
                    "customer",
                    "licence",
                    "currency",
                    "payment_intent_id",
                )
            },
            "stripe_object_id": "re_1",
        },
    )
    client.force_login(personas.owner)
    page = client.get("/billing/publishers/acme/sales/").content.decode()
    # Half refunded: half of the publisher's 79.20 share remains.
    assert "<td>108.90</td><td>9.90</td><td>19.80</td><td>54.45</td><td>39.60</td>" in page
    assert "carol@customer.example.com" in page
    assert f"/billing/publishers/acme/sales/{payment.pk}/refund/" in page
    client.force_login(personas.viewer)
    page = client.get("/billing/publishers/acme/sales/").content.decode()
    assert "/refund/" not in page
    assert client.post(f"/billing/publishers/acme/sales/{payment.pk}/refund/").status_code == 403


def test_another_publisher_cannot_refund_our_payment(client, personas, customer, catalog: Catalog) -> None:
    payment = _sale(catalog, customer)
    client.force_login(personas.outsider)
    assert client.post(f"/billing/publishers/globex/sales/{payment.pk}/refund/").status_code == 404


# -- admin ------------------------------------------------------------------------------------


def test_moderators_refund_from_the_admin(
    client, moderator, customer, catalog: Catalog, stripe_on: FakeStripe
) -> None:
    payment = _sale(catalog, customer)
    stripe_on._charge("pi_1", 10890)
    client.force_login(moderator)
    assert client.get("/admin/billing/ledgerentry/").status_code == 200
    response = client.post(
        "/admin/billing/ledgerentry/",
        {"action": "refund_payments", "_selected_action": [payment.pk]},
        follow=True,
    )
    assert response.status_code == 200
    [call] = stripe_on.calls("POST", "/v1/refunds")
    assert (call.params["reverse_transfer"], call.params["refund_application_fee"]) == ("true", "true")
    assert AuditEvent.objects.get(event_type=EventType.REFUND_REQUESTED).actor == moderator
    assert client.get(f"/admin/billing/ledgerentry/{payment.pk}/change/").status_code == 200  # view only


def test_superusers_replay_events_from_the_admin(client, admin_user, stripe_on: FakeStripe) -> None:
    post_event(client, stripe_on.event("customer.created", {"id": "cus_1"}))
    event = StripeEvent.objects.get()
    client.force_login(admin_user)
    client.post("/admin/billing/stripeevent/", {"action": "replay", "_selected_action": [event.pk]})
    event.refresh_from_db()
    assert event.processed_at is not None
    assert event.attempts == 1


def test_a_one_off_purchase_cannot_be_cancelled(client, customer, catalog: Catalog) -> None:
    licence = Licence.objects.create(
        user=customer,
        product=catalog.product,
        tier_key=catalog.one_off.key,
        tier_name="Lifetime",
        status="active",
        source="purchase",
        stripe_payment_intent_id="pi_1",
    )
    client.force_login(customer)
    assert f"/billing/licences/{licence.pk}/cancel/" not in client.get("/billing/licences/").content.decode()
    response = client.post(f"/billing/licences/{licence.pk}/cancel/", follow=True)
    assert "ask the publisher for a refund" in response.content.decode()
    licence.refresh_from_db()
    assert licence.status == "active"

"""Publisher pages and catalog pages."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from listings import services
from listings.models import Category, Product, RevisionState, Screenshot, Subscription
from tests.images import upload
from tests.listings.helpers import complete_product, published, submitted

pytestmark = pytest.mark.django_db


def edit_data(product, **overrides):
    data = {
        "name": "Acme Postgres",
        "short_description": "PostgreSQL, ready to run.",
        "category": Category.objects.get(slug="databases").pk,
        "tags": "sql, postgres",
        "long_description": "Long *pitch*.",
        "support_url": "https://acme.example.com/support",
        "installation_instructions": "Pull it.",
        "licence_url": "https://acme.example.com/licence",
        "distribution": "paid",
        "access_policy": "everyone",
        "kind": "container",
        "engine_compatibility": "certified",
        "tiers-TOTAL_FORMS": "2",
        "tiers-INITIAL_FORMS": "0",
        "tiers-MIN_NUM_FORMS": "0",
        "tiers-MAX_NUM_FORMS": "10",
        "tiers-0-name": "Standard",
        "tiers-0-description": "One node.",
        "tiers-0-price": "49",
        "tiers-0-currency": "USD",
        "tiers-0-billing": "monthly",
        "tiers-0-trial_days": "14",
        "tiers-0-licence_required": "on",
        "tiers-0-staging_source": "acme/pg:15",
        "tiers-0-repository": "",
        "tiers-1-name": "Enterprise",
        "tiers-1-description": "Cluster.",
        "tiers-1-price": "499",
        "tiers-1-currency": "USD",
        "tiers-1-billing": "yearly",
        "tiers-1-trial_days": "0",
        "tiers-1-staging_source": "acme/pg-ee:15",
        "tiers-1-repository": "",
    }
    data.update(overrides)
    return data


def new_product(client, personas, name="Acme Postgres"):
    client.force_login(personas.member)
    response = client.post("/publishers/acme/products/new/", {"name": name})
    assert response.status_code == 302
    return Product.objects.get(publisher=personas.acme, slug="acme-postgres")


def test_create_and_edit_with_two_tiers(client, personas):
    product = new_product(client, personas)
    response = client.post(f"/publishers/acme/products/{product.slug}/edit/", edit_data(product))
    assert response.status_code == 302, response.context["form"].errors if response.context else response
    revision = product.revisions.get()
    assert [t.name for t in revision.tiers.all()] == ["Standard", "Enterprise"]
    assert revision.tiers.get(name="Standard").repository == "acme/acme-postgres"


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"short_description": "x" * 141}, "short_description", "at most 140 characters (it has 141)"),
        ({"tiers-0-price": "-5"}, "price", "The price cannot be negative"),
        (
            {"tiers-0-billing": "one_off", "tiers-0-trial_days": "7"},
            "trial_days",
            "a one-off purchase has no trial days",
        ),
        ({"tiers-0-staging_source": "globex/pg:15"}, "staging_source", "must be in your namespace"),
        ({"tiers-0-staging_source": "acme/PG:1"}, "staging_source", "lowercase"),
    ],
)
def test_bad_input_keeps_what_was_typed_and_changes_nothing(client, personas, overrides, field, message):
    product = new_product(client, personas)
    response = client.post(f"/publishers/acme/products/{product.slug}/edit/", edit_data(product, **overrides))
    assert response.status_code == 200
    content = response.content.decode()
    assert message in content
    assert "Long *pitch*." in content  # what was typed is still in the form
    revision = product.revisions.get()
    assert revision.long_description == ""
    assert not revision.tiers.exists()


def test_editing_while_in_review_is_refused_with_a_message(client, personas):
    revision = submitted(personas.acme, personas.member)
    client.force_login(personas.member)
    response = client.post(
        f"/publishers/acme/products/{revision.product.slug}/edit/", edit_data(revision.product, name="New")
    )
    assert response.status_code == 200
    assert "in review and cannot be edited" in response.content.decode()
    revision.refresh_from_db()
    assert revision.name == "Acme Postgres"


def test_submit_page_lists_every_missing_item(client, personas):
    product = new_product(client, personas)
    response = client.post(f"/publishers/acme/products/{product.slug}/submit/")
    assert response.status_code == 400
    content = response.content.decode()
    assert "Add a product logo." in content
    assert "Add at least one tier." in content
    assert product.revisions.get().state == RevisionState.DRAFT


def test_submit_and_thread(client, personas):
    product = complete_product(personas.acme, personas.member)
    client.force_login(personas.member)
    response = client.post(f"/publishers/acme/products/{product.slug}/submit/", {"message": "First version"})
    assert response.status_code == 302
    assert product.revisions.get().state == RevisionState.IN_REVIEW
    page = client.get(f"/publishers/acme/products/{product.slug}/").content.decode()
    assert "First version" in page
    assert "In review" in page


def test_screenshot_upload_reorder_and_bad_file(client, personas):
    product = complete_product(personas.acme, personas.member)
    client.force_login(personas.member)
    url = f"/publishers/acme/products/{product.slug}/screenshots/"
    bad = client.post(url, {"image": SimpleUploadedFile("x.png", b"nope", "image/png"), "caption": "Bad"})
    assert bad.status_code == 200
    assert "This file is not a readable image" in bad.content.decode()
    assert Screenshot.objects.count() == 1
    assert (
        client.post(url, {"image": upload(800, 600, name="two.png"), "caption": "Second"}).status_code == 302
    )
    second = Screenshot.objects.get(caption="Second")
    client.post(f"{url}{second.pk}/", {"action": "up"})
    assert list(Screenshot.objects.order_by("position").values_list("caption", flat=True)) == [
        "Second",
        "Dashboard",
    ]


def test_preview_shows_the_draft_as_customers_will_see_it(client, personas):
    product = complete_product(personas.acme, personas.member)
    client.force_login(personas.viewer)
    content = client.get(f"/publishers/acme/products/{product.slug}/preview/").content.decode()
    assert "<strong>fastest</strong>" in content  # Markdown rendered
    assert "docker pull 127.0.0.1:5000/acme/acme-postgres:15.4" in content
    assert 'title="Customers see this button"' in content  # the buttons, inert in the preview
    assert "/billing/products/" not in content


def test_markdown_is_sanitised(client, personas, moderator):
    product = published(
        personas.acme,
        personas.member,
        moderator,
        long_description="Hi <script>alert(1)</script> [x](javascript:alert(1))",
    )
    content = client.get(product.get_absolute_url()).content.decode()
    assert "<script>alert(1)" not in content
    assert "javascript:" not in content


def test_product_page(client, personas, moderator, settings):
    settings.REGISTRY_PUBLIC_HOST = "registry.store.example"
    product = published(personas.acme, personas.member, moderator, engine_compatibility="community")
    content = client.get(product.get_absolute_url()).content.decode()
    assert "Acme Postgres" in content
    assert "docker pull registry.store.example/acme/acme-postgres:15.4" in content
    assert "Start trial" in content
    assert "Payment is not configured on this store yet." in content  # no Stripe keys in tests
    assert "not eligible for certification or support by the store" in content
    assert "https://acme.example.com/licence" in content


def test_subscribe_and_unsubscribe_from_the_page(client, personas, moderator):
    product = published(personas.acme, personas.member, moderator)
    client.force_login(personas.outsider)
    client.post(f"{product.get_absolute_url()}subscribe/")
    assert Subscription.objects.filter(user=personas.outsider).exists()
    client.post(f"{product.get_absolute_url()}unsubscribe/")
    assert not Subscription.objects.exists()


def test_one_click_unsubscribe_link(client, personas, moderator):
    product = published(personas.acme, personas.member, moderator)
    subscription = services.subscription_create(user=personas.outsider, product=product)
    token = services.unsubscribe_token(subscription)
    assert client.get(f"/unsubscribe/{token}/").status_code == 200
    assert Subscription.objects.exists()
    response = client.post(f"/unsubscribe/{token}/")  # no session, no CSRF token: the link is the credential
    assert response.status_code == 200
    assert not Subscription.objects.exists()
    assert client.post("/unsubscribe/forged/").status_code == 400


def test_search_page_finds_by_name_and_typo(client, personas, moderator, is_postgres):
    published(personas.acme, personas.member, moderator, name="Acme Postgres")
    published(
        personas.acme,
        personas.member,
        moderator,
        name="Acme Redis",
        tags="cache, keyvalue",
        short_description="An in-memory cache.",
        long_description="Redis.",
    )
    content = client.get("/search/?q=postgres").content.decode()
    assert "Acme Postgres" in content
    assert "Acme Redis" not in content
    if is_postgres:
        assert "Acme Postgres" in client.get("/search/?q=postgrse").content.decode()
    content = client.get("/search/?q=keyvalue").content.decode()
    assert "Acme Redis" in content


def test_search_ranks_name_above_description(client, personas, moderator):
    published(
        personas.acme,
        personas.member,
        moderator,
        name="Acme Backup",
        long_description="Backs up postgres databases.",
    )
    published(personas.acme, personas.member, moderator, name="Postgres Pro")
    page = client.get("/search/?q=postgres").context["page"]
    assert [p.name for p in page.object_list] == ["Postgres Pro", "Acme Backup"]


def test_search_facets_count(client, personas, moderator):
    published(personas.acme, personas.member, moderator, name="Acme Postgres")
    published(
        personas.acme,
        personas.member,
        moderator,
        name="Acme Queue",
        category=Category.objects.get(slug="messaging"),
    )
    facets = client.get("/search/?category=databases").context["facets"]
    assert {f.value: f.count for f in facets.categories} == {"databases": 1, "messaging": 1}
    assert {f.value: f.count for f in facets.pricing} == {"free": 0, "paid": 1}


def _queries(client, url):
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx)


def test_catalog_pages_run_a_constant_number_of_queries(client, personas, moderator):
    published(personas.acme, personas.member, moderator, name="One")
    urls = ["/", "/search/", "/search/?q=one", "/search/?category=databases&kind=container"]
    before = [_queries(client, url) for url in urls]
    for n in range(5):
        published(personas.acme, personas.member, moderator, name=f"More {n}", tags=f"one, t{n}")
    after = [_queries(client, url) for url in urls]
    assert before == after
    product = Product.objects.first()
    assert _queries(client, product.get_absolute_url()) <= 6


def test_publisher_list_runs_a_constant_number_of_queries(client, personas):
    complete_product(personas.acme, personas.member, name="One")
    client.force_login(personas.viewer)
    before = _queries(client, "/publishers/acme/products/")
    for n in range(4):
        complete_product(personas.acme, personas.member, name=f"More {n}")
    assert _queries(client, "/publishers/acme/products/") == before


def test_home_lists_categories_new_and_featured(client, personas, moderator):
    product = published(personas.acme, personas.member, moderator)
    Product.objects.filter(pk=product.pk).update(is_featured=True)
    response = client.get("/")
    assert response.status_code == 200
    assert response.context["featured"] == [product]
    assert response.context["new"] == [product]
    databases = next(c for c in response.context["categories"] if c.slug == "databases")
    assert databases.product_count == 1


def test_notifications_page(client, personas, moderator):
    from listings.models import Notification

    Notification.objects.create(user=personas.outsider, title="Acme Postgres has new images")
    client.force_login(personas.outsider)
    assert "Acme Postgres has new images" in client.get("/notifications/").content.decode()
    assert Notification.objects.get().read_at is not None

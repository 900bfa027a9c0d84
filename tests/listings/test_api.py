"""The listings API: catalog, publishers' products and tiers, moderation."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from listings.models import Product, RevisionState
from tests.images import upload
from tests.listings.helpers import complete_product, enable_payouts, published, submitted, tier_data

pytestmark = pytest.mark.django_db


def test_catalog_search_best_match_first(api_client, personas, moderator):
    published(
        personas.acme, personas.member, moderator, name="Acme Backup", long_description="Backs up postgres."
    )
    published(personas.acme, personas.member, moderator, name="Postgres Pro")
    response = api_client.get("/api/v1/products/?search=postgres")
    assert response.status_code == 200
    assert [p["name"] for p in response.json()["results"]] == ["Postgres Pro", "Acme Backup"]


def test_catalog_filters(api_client, personas, moderator):
    published(personas.acme, personas.member, moderator, name="Paid one")
    published(personas.other, personas.outsider, moderator, name="Free one", distribution="free", tiers=2)
    by_publisher = api_client.get("/api/v1/products/?publisher=globex").json()
    assert [p["name"] for p in by_publisher["results"]] == ["Free one"]
    assert api_client.get("/api/v1/products/?pricing=free").json()["results"][0]["name"] == "Free one"
    assert (
        api_client.get("/api/v1/products/?pricing=paid&category=databases&kind=container").json()["count"]
        == 1
    )
    assert api_client.get("/api/v1/products/?certified=true").json()["count"] == 0
    names = [p["name"] for p in api_client.get("/api/v1/products/?ordering=name").json()["results"]]
    assert names == sorted(names)
    bad = api_client.get("/api/v1/products/?pricing=cheap")
    assert bad.status_code == 400
    assert "pricing" in bad.json()["error"]["fields"]


def test_catalog_detail(api_client, personas, moderator):
    product = published(personas.acme, personas.member, moderator)
    data = api_client.get(f"/api/v1/products/acme/{product.slug}/").json()
    assert data["name"] == "Acme Postgres"
    assert [t["name"] for t in data["tiers"]] == ["Standard", "Free"]
    assert data["tiers"][0]["pull"] == "docker pull 127.0.0.1:5000/acme/acme-postgres:15.4"
    assert "staging_source" not in data["tiers"][0]


def _count(api_client, url):
    with CaptureQueriesContext(connection) as ctx:
        assert api_client.get(url).status_code == 200
    return len(ctx)


def test_catalog_api_runs_a_constant_number_of_queries(api_client, personas, moderator):
    published(personas.acme, personas.member, moderator, name="First")
    urls = ["/api/v1/products/", "/api/v1/products/?search=first", "/api/v1/products/?category=databases"]
    # The matches grouped for the count, the ids of the page in order, the page's cards.
    assert [_count(api_client, u) for u in urls] == [3, 3, 3]
    for n in range(4):
        published(personas.acme, personas.member, moderator, name=f"First {n}")
    assert [_count(api_client, u) for u in urls] == [3, 3, 3]
    api_client.force_authenticate(personas.viewer)
    one = _count(api_client, "/api/v1/publishers/acme/products/")
    complete_product(personas.acme, personas.member, name="Another")
    assert _count(api_client, "/api/v1/publishers/acme/products/") == one


def test_publisher_flow_over_the_api(api_client, personas, moderator):
    enable_payouts(personas.acme)
    api_client.force_authenticate(personas.member)
    created = api_client.post("/api/v1/publishers/acme/products/", {"name": "Api Product"}, format="json")
    assert created.status_code == 201
    slug = created.json()["slug"]
    base = f"/api/v1/publishers/acme/products/{slug}/"
    incomplete = api_client.post(f"{base}submit/", {}, format="json")
    assert incomplete.status_code == 400
    assert "Add a short description." in incomplete.json()["error"]["fields"]["non_field_errors"]
    patch = api_client.patch(
        base,
        {
            "short_description": "Made over the API.",
            "category": "databases",
            "long_description": "Long.",
            "support_url": "https://acme.example.com/s",
            "installation_instructions": "Pull.",
            "licence_url": "https://acme.example.com/l",
            "engine_compatibility": "certified",
            "distribution": "paid",
            "logo": upload(512, 512),
        },
        format="multipart",
    )
    assert patch.status_code == 200, patch.json()
    tier = api_client.post(f"{base}tiers/", tier_data(), format="json")
    assert tier.status_code == 201, tier.json()
    key = tier.json()["key"]
    assert api_client.patch(f"{base}tiers/{key}/", {"price": "-1"}, format="json").json()["error"]["fields"][
        "price"
    ]
    assert api_client.patch(f"{base}tiers/{key}/", {"trial_days": 30}, format="json").status_code == 200
    from listings import services

    product = Product.objects.get(slug=slug)
    services.screenshot_add(actor=personas.member, product=product, image=upload(800, 600), caption="x")
    submitted_ = api_client.post(f"{base}submit/", {"message": "Please review"}, format="json")
    assert submitted_.status_code == 200, submitted_.json()
    assert submitted_.json()["revision"]["state"] == "in_review"
    refused = api_client.patch(base, {"name": "Changed"}, format="json")
    assert refused.status_code == 400
    assert "in review and cannot be edited" in refused.json()["error"]["message"]
    revision = product.revisions.get()
    api_client.force_authenticate(moderator)
    assert (
        api_client.post(f"/api/v1/moderation/revisions/{revision.pk}/approve/", {}, format="json").status_code
        == 200
    )
    api_client.force_authenticate(personas.member)
    assert api_client.post(f"{base}unpublish/", {}, format="json").json()["catalog_status"] == "unpublished"


def test_moderation_api(api_client, personas, moderator):
    revision = submitted(personas.acme, personas.member)
    api_client.force_authenticate(personas.owner)
    assert api_client.get("/api/v1/moderation/queue/").status_code == 403
    api_client.force_authenticate(moderator)
    queue = api_client.get("/api/v1/moderation/queue/").json()
    assert [r["id"] for r in queue["results"]] == [revision.pk]
    url = f"/api/v1/moderation/revisions/{revision.pk}/"
    missing = api_client.post(f"{url}request-changes/", {}, format="json")
    assert missing.status_code == 400
    assert missing.json()["error"]["fields"]["message"]
    assert (
        api_client.post(f"{url}request-changes/", {"message": "Fix logo"}, format="json").json()["state"]
        == "changes_requested"
    )
    again = api_client.post(f"{url}approve/", {}, format="json")
    assert again.status_code == 400
    assert "cannot approve a revision that is changes requested" in again.json()["error"]["message"]
    revision.refresh_from_db()
    assert revision.state == RevisionState.CHANGES_REQUESTED


def test_moderator_cannot_use_publisher_endpoints(api_client, personas, moderator):
    product = complete_product(personas.acme, personas.member)
    api_client.force_authenticate(moderator)
    assert (
        api_client.patch(
            f"/api/v1/publishers/acme/products/{product.slug}/", {"name": "x"}, format="json"
        ).status_code
        == 404
    )


def _sonars(personas, moderator, n: int = 5) -> None:
    for i in range(n):
        published(
            personas.acme, personas.member, moderator, name=f"Sonar {i}", long_description="Finds krakens."
        )


def test_a_broad_api_search_caps_its_count_and_ranks_name_matches_first(
    api_client, personas, moderator, small_cap, is_postgres
):
    _sonars(personas, moderator)
    published(personas.acme, personas.member, moderator, name="Kraken Watch")  # made last: read last
    data = api_client.get("/api/v1/products/?search=kraken&page_size=2").json()
    assert (data["count"], data["count_is_capped"]) == (3, True)  # only the best three are paged through
    assert "page=2" in data["next"] and data["previous"] is None
    if is_postgres:
        assert data["results"][0]["name"] == "Kraken Watch"
    last = api_client.get(data["next"]).json()
    assert (len(last["results"]), last["next"], last["count_is_capped"]) == (1, None, True)
    # Constant work: more matches, filters that need their own capped count, still the same queries.
    urls = ["/api/v1/products/?search=kraken", "/api/v1/products/?search=kraken&kind=container"]
    before = [_count(api_client, u) for u in urls]
    assert before == [3, 4]  # the filtered search counts its matches up to the cap
    _sonars(personas, moderator, n=3)
    assert [_count(api_client, u) for u in urls] == before


def test_api_filters_can_bring_a_broad_search_under_the_cap(api_client, personas, moderator, small_cap):
    _sonars(personas, moderator)
    published(
        personas.other, personas.outsider, moderator, name="Globex Kraken", distribution="free", tiers=2
    )
    for query in ["publisher=globex", "pricing=free"]:
        data = api_client.get(f"/api/v1/products/?search=kraken&{query}").json()
        assert (data["count"], data["count_is_capped"]) == (1, False)
        assert [p["name"] for p in data["results"]] == ["Globex Kraken"]
    newest = api_client.get("/api/v1/products/?search=kraken&ordering=newest").json()
    assert newest["results"][0]["name"] == "Globex Kraken"
    by_name = [
        p["name"] for p in api_client.get("/api/v1/products/?search=kraken&ordering=name").json()["results"]
    ]
    assert by_name == ["Globex Kraken", "Sonar 0", "Sonar 1"]


def test_api_search_under_the_cap_is_exact(api_client, personas, moderator):
    published(personas.acme, personas.member, moderator, name="Certified Postgres")
    published(personas.acme, personas.member, moderator, name="Plain Postgres")
    from listings.models import Product

    Product.objects.filter(name="Certified Postgres").update(is_certified=True)
    data = api_client.get("/api/v1/products/?search=postgres").json()
    assert (data["count"], data["count_is_capped"]) == (2, False)
    assert [p["name"] for p in api_client.get("/api/v1/products/?certified=true").json()["results"]] == [
        "Certified Postgres"
    ]
    assert [p["name"] for p in api_client.get("/api/v1/products/?certified=false").json()["results"]] == [
        "Plain Postgres"
    ]


def test_api_search_finds_names_despite_a_typo(api_client, personas, moderator, is_postgres):
    published(personas.acme, personas.member, moderator, name="Postgres Pro")
    published(personas.acme, personas.member, moderator, name="Redis Cache")
    if is_postgres:
        names = [p["name"] for p in api_client.get("/api/v1/products/?search=pstgres").json()["results"]]
        assert names == ["Postgres Pro"]


def test_responses_match_the_schema_for_a_missing_category_and_image_urls(api_client, personas, moderator):
    """Fuzzing found answers the schema refused: a draft without category (null where the schema
    said string) and image URLs without scheme and host where the schema says format: uri."""
    schema = api_client.get("/api/schema/", {"format": "json"}).json()["components"]["schemas"]
    for component in ("Revision", "ProductCard", "ProductDetail", "Queue"):
        assert schema[component]["properties"]["category"].get("nullable") is True, component
    assert schema["Screenshot"]["properties"]["image"]["format"] == "uri"

    api_client.force_authenticate(personas.member)
    created = api_client.post("/api/v1/publishers/acme/products/", {"name": "No Category"}, format="json")
    assert created.status_code == 201
    assert created.json()["revision"]["category"] is None

    product = published(personas.acme, personas.member, moderator)
    mine = api_client.get(f"/api/v1/publishers/acme/products/{product.slug}/").json()["revision"]
    public = api_client.get(f"/api/v1/products/acme/{product.slug}/").json()
    for url in [mine["logo"], *(s["image"] for s in mine["screenshots"] + public["screenshots"])]:
        assert url.startswith("http://testserver/media/"), url
    assert public["screenshots"], "the helper's product has a screenshot"

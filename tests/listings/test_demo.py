"""The demo catalog that `make run` shows."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from listings.models import Product, ProductStatus, Revision, RevisionState

pytestmark = pytest.mark.django_db


def test_demo_listings_are_idempotent_and_searchable(api_client):
    call_command("load_demo_listings")
    call_command("load_demo_listings")
    assert Product.objects.count() >= 30
    published = Product.objects.filter(status=ProductStatus.PUBLISHED)
    assert published.filter(distribution="free").exists()
    assert published.filter(distribution="paid").exists()
    assert published.values("category").distinct().count() >= 10
    assert Revision.objects.filter(state=RevisionState.IN_REVIEW).count() >= 2
    results = api_client.get("/api/v1/products/?search=postgres").json()["results"]
    assert results[0]["name"].startswith("Postgres")
    assert {"Postgres Enterprise", "Postgres Backup Manager"} <= {r["name"] for r in results}

"""Tenant isolation: an outsider gets 404 on every publisher page and endpoint of listings."""

from __future__ import annotations

import pytest
from django.urls import reverse

from listings.models import Screenshot
from tests.listings.helpers import complete_product

PAGES = [
    ("get", "listings:product_list", "ns"),
    ("get", "listings:create", "ns"),
    ("post", "listings:create", "ns"),
    ("get", "listings:manage", "product"),
    ("get", "listings:edit", "product"),
    ("post", "listings:edit", "product"),
    ("get", "listings:screenshots", "product"),
    ("post", "listings:screenshots", "product"),
    ("post", "listings:screenshot_change", "screenshot"),
    ("post", "listings:submit", "product"),
    ("post", "listings:unpublish", "product"),
    ("post", "listings:comment", "product"),
    ("get", "listings:preview", "product"),
]
ENDPOINTS = [
    ("get", "api-publisher-products", "ns"),
    ("post", "api-publisher-products", "ns"),
    ("get", "api-publisher-product", "product"),
    ("patch", "api-publisher-product", "product"),
    ("post", "api-product-submit", "product"),
    ("post", "api-product-unpublish", "product"),
    ("get", "api-product-tiers", "product"),
    ("post", "api-product-tiers", "product"),
    ("get", "api-product-tier", "tier"),
    ("patch", "api-product-tier", "tier"),
    ("delete", "api-product-tier", "tier"),
]


def _args(kind, product):
    ns = product.publisher.namespace
    if kind == "ns":
        return [ns]
    if kind == "product":
        return [ns, product.slug]
    if kind == "screenshot":
        return [ns, product.slug, Screenshot.objects.filter(revision__product=product).first().pk]
    return [ns, product.slug, product.revisions.first().tiers.first().key]


@pytest.mark.parametrize(("method", "name", "kind"), PAGES + ENDPOINTS)
def test_outsider_gets_404_everywhere(client, personas, method, name, kind):
    product = complete_product(personas.acme, personas.member)
    client.force_login(personas.outsider)
    response = (
        getattr(client, method)(reverse(name, args=_args(kind, product)), content_type="application/json")
        if method in ("patch", "delete")
        else getattr(client, method)(reverse(name, args=_args(kind, product)))
    )
    assert response.status_code == 404
    product.refresh_from_db()
    assert product.revisions.count() == 1


@pytest.mark.parametrize(("method", "name", "kind"), [p for p in PAGES + ENDPOINTS if p[0] != "get"])
def test_viewer_may_read_but_not_write(client, personas, method, name, kind):
    product = complete_product(personas.acme, personas.member)
    client.force_login(personas.viewer)
    url = reverse(name, args=_args(kind, product))
    response = (
        getattr(client, method)(url, content_type="application/json")
        if method in ("patch", "delete")
        else getattr(client, method)(url)
    )
    assert response.status_code == 403


@pytest.mark.parametrize(("method", "name", "kind"), [p for p in PAGES + ENDPOINTS if p[0] == "get"])
def test_viewer_reads(client, personas, method, name, kind):
    product = complete_product(personas.acme, personas.member)
    client.force_login(personas.viewer)
    response = client.get(reverse(name, args=_args(kind, product)))
    expected = 403 if name == "listings:create" else 200
    assert response.status_code == expected


def test_a_draft_is_not_in_the_catalog(client, personas):
    product = complete_product(personas.acme, personas.member)
    assert client.get(f"/products/acme/{product.slug}/").status_code == 404
    assert client.get(f"/api/v1/products/acme/{product.slug}/").status_code == 404

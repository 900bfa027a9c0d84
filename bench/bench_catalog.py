"""Catalog latency at 1,000, 10,000 and 100,000 products, as ratios to the 1,000 figures.

Loads products (each with a live revision, two tiers and search tags) into a dedicated PostgreSQL
database, ``store_bench_catalog`` (created and migrated here; the other benchmarks keep
``store_bench``), growing it from 1k to 10k to 100k. At each size it measures, through Django's
test Client (the whole stack but the network), p50 and p95 latency and sequential requests per
second of:

- the search page, ``/search/?q=…`` (full-text + trigram, facets with counts, one page of cards),
  with two kinds of query: ``selective`` words that match a few dozen products whatever the size
  (product-line names) and ``broad`` words that match a fixed share of the catalog (about 2%);
- the catalog API, ``/api/v1/products/?search=…``, with the same two kinds;
- the product page of a random product.

Target (issue 3): p95 of search at 100k within 2x of the same at 1k.
"""

from __future__ import annotations

import os
import random
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bench import database

CATALOG_DATABASE = "store_bench_catalog"
SIZES = [1_000, 10_000, 100_000]
REQUESTS = int(os.environ.get("BENCH_CATALOG_REQUESTS", "60"))
WARMUP = 5
PUBLISHERS = 40
BATCH = 5_000

# Broad words: each product takes one in its name and two in its tags, so each matches ~2-5%.
BROAD = [
    "postgres", "redis", "nginx", "kafka", "python", "java", "golang", "node", "mysql", "mongo",
    "proxy", "cache", "queue", "metrics", "logging", "backup", "vault", "gateway", "search", "ldap",
    "grafana", "elastic", "spark", "airflow", "jenkins", "gitea", "minio", "rabbit", "etcd", "consul",
]  # fmt: skip
ADJECTIVES = ["rapid", "secure", "cloud", "edge", "smart", "lean", "solid", "prime", "open", "hyper"]
NOUNS = ["server", "stack", "suite", "engine", "hub", "kit", "box", "node", "core", "flow"]
CATEGORIES = [
    "databases", "networking", "business-software", "base-images", "programming-languages",
    "application-frameworks", "monitoring", "security", "storage", "messaging", "analytics",
    "developer-tools",
]  # fmt: skip


def _line(i: int) -> str:
    """A product-line word shared by ~20 products, so selective queries match a bounded set."""
    return f"line{i // 20:05d}"


@contextmanager
def _catalog_database() -> Iterator[None]:
    """Point Django's default connection at ``store_bench_catalog`` (created and migrated) for a while."""
    import psycopg2
    from django.core.management import call_command
    from django.db import connections
    from psycopg2 import sql

    database.setup()
    connection = connections["default"]
    original = connection.settings_dict["NAME"]
    server = urlunsplit(urlsplit(database.bench_database_url())._replace(path="/postgres"))
    conn = psycopg2.connect(server, connect_timeout=5)
    conn.autocommit = True
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [CATALOG_DATABASE])
            if cursor.fetchone() is None:
                cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(CATALOG_DATABASE)))
    finally:
        conn.close()
    connection.close()
    connection.settings_dict["NAME"] = CATALOG_DATABASE
    try:
        call_command("migrate", verbosity=0, interactive=False)
        yield
    finally:
        connection.close()
        connection.settings_dict["NAME"] = original


def _reset() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE listings_tier, listings_screenshot, listings_reviewcomment, listings_subscription,"
            " listings_notification, listings_revision, listings_product RESTART IDENTITY CASCADE"
        )


def _publishers() -> list[Any]:
    from publishers.models import Publisher

    existing = list(Publisher.objects.filter(namespace__startswith="bench").order_by("id"))
    if len(existing) >= PUBLISHERS:
        return existing[:PUBLISHERS]
    Publisher.objects.bulk_create(
        [
            Publisher(
                namespace=f"bench{i:03d}",
                legal_name=f"Bench Publisher {i}",
                website="https://example.com",
                phone="+14155550100",
                company_email=f"hello@bench{i}.example.com",
                logo="bench/logo.png",
            )
            for i in range(PUBLISHERS)
        ],
        ignore_conflicts=True,
    )
    return list(Publisher.objects.filter(namespace__startswith="bench").order_by("id"))[:PUBLISHERS]


def _load(start: int, stop: int, publishers: list[Any], categories: dict[str, Any]) -> None:
    """Products ``start``..``stop``, each published with one revision and two tiers."""
    from django.db import connection
    from django.utils import timezone

    from listings.models import Product, Revision, Tier

    rng = random.Random(start)
    now = timezone.now()
    for low in range(start, stop, BATCH):
        high = min(stop, low + BATCH)
        products, revisions, specs = [], [], []
        for i in range(low, high):
            publisher = publishers[i % len(publishers)]
            word = BROAD[i % len(BROAD)]
            name = f"{ADJECTIVES[rng.randrange(10)].title()} {word.title()} {NOUNS[rng.randrange(10)].title()} {i}"
            category = categories[CATEGORIES[i % len(CATEGORIES)]]
            distribution = "free" if i % 3 == 0 else "paid"
            tags = f"{rng.choice(BROAD)}, {rng.choice(BROAD)}, {_line(i)}"
            specs.append((name, category, distribution, tags, word))
            products.append(
                Product(
                    publisher=publisher,
                    slug=f"product-{i}",
                    status="published",
                    name=name,
                    category=category,
                    kind="plugin" if i % 10 == 0 else "container",
                    distribution=distribution,
                    is_certified=i % 7 == 0,
                    first_published_at=now - timedelta(minutes=stop - i),
                    live_since=now,
                )
            )
        Product.objects.bulk_create(products, batch_size=BATCH)
        for product, (name, category, distribution, tags, word) in zip(products, specs, strict=True):
            revisions.append(
                Revision(
                    product=product,
                    number=1,
                    state="approved",
                    name=name,
                    logo="bench/logo.png",
                    short_description=f"{name}: a {word} image for teams that ship containers.",
                    category=category,
                    tags=tags,
                    long_description=f"# {name}\n\nRuns {word} with sensible defaults, backups and metrics.",
                    support_url="https://example.com/support",
                    installation_instructions="docker run it",
                    licence_url="https://example.com/licence",
                    distribution=distribution,
                    engine_compatibility="certified",
                    submitted_at=now,
                    decided_at=now,
                )
            )
        Revision.objects.bulk_create(revisions, batch_size=BATCH)
        tiers = []
        for revision, product, (_, _, distribution, _, _) in zip(revisions, products, specs, strict=True):
            ns, slug = product.publisher.namespace, product.slug
            for position, (tier, price) in enumerate(
                [
                    ("Standard", "0" if distribution == "free" else "29"),
                    ("Pro", "0" if distribution == "free" else "99"),
                ]
            ):
                tiers.append(
                    Tier(
                        revision=revision,
                        position=position,
                        name=tier,
                        description=f"{tier} tier",
                        price=Decimal(price),
                        billing="monthly",
                        staging_source=f"{ns}/{slug}-staging:1.0",
                        repository=f"{ns}/{slug}-{tier.lower()}",
                        repository_locked=True,
                    )
                )
        Tier.objects.bulk_create(tiers, batch_size=BATCH * 2)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE listings_product p SET live_revision_id = r.id FROM listings_revision r WHERE r.product_id = p.id AND p.live_revision_id IS NULL"
        )
        # The same weighted vector listings.services writes when a revision is approved.
        cursor.execute(
            """
            UPDATE listings_product p SET search_vector =
                setweight(to_tsvector('english', r.name), 'A')
                || setweight(to_tsvector('english', replace(r.tags, ',', ' ')), 'B')
                || setweight(to_tsvector('english', r.short_description), 'C')
                || setweight(to_tsvector('english', r.long_description || ' ' || pub.legal_name || ' ' || pub.namespace), 'D')
            FROM listings_revision r, publishers_publisher pub
            WHERE r.id = p.live_revision_id AND pub.id = p.publisher_id AND p.search_vector IS NULL
            """
        )
        # Measure the steady state autovacuum reaches, not the moment after a bulk UPDATE: the
        # visibility map and hint bits set, dead row versions gone, statistics fresh.
        for table in ("listings_product", "listings_revision", "listings_tier"):
            cursor.execute(f"VACUUM ANALYZE {table}")


def _measure(client: Any, urls: list[str]) -> dict[str, float]:
    for url in urls[:WARMUP]:
        client.get(url)
    timings = []
    started = time.perf_counter()
    for i in range(REQUESTS):
        t0 = time.perf_counter()
        response = client.get(urls[i % len(urls)])
        timings.append(time.perf_counter() - t0)
        if response.status_code != 200:
            raise RuntimeError(f"{urls[i % len(urls)]} answered {response.status_code}")
    total = time.perf_counter() - started
    timings.sort()
    return {
        "p50_ms": statistics.median(timings) * 1000,
        "p95_ms": timings[int(len(timings) * 0.95) - 1] * 1000,
        "rps": REQUESTS / total,
    }


def _scenarios(size: int) -> dict[str, list[str]]:
    rng = random.Random(size)
    selective = [_line(rng.randrange(size)) for _ in range(REQUESTS)]
    broad = [rng.choice(BROAD) for _ in range(REQUESTS)]
    products = [rng.randrange(size) for _ in range(REQUESTS)]
    return {
        "search page, selective": [f"/search/?q={q}" for q in selective],
        "search page, broad": [f"/search/?q={q}" for q in broad],
        "catalog API, selective": [f"/api/v1/products/?search={q}" for q in selective],
        "catalog API, broad": [f"/api/v1/products/?search={q}" for q in broad],
        "product page": [f"/products/bench{i % PUBLISHERS:03d}/product-{i}/" for i in products],
    }


def run() -> list[dict[str, Any]]:
    from django.test import Client

    rows: list[dict[str, Any]] = []
    with _catalog_database():
        from listings.models import Category

        _reset()
        publishers = _publishers()
        categories = {c.slug: c for c in Category.objects.all()}
        client = Client(HTTP_HOST="127.0.0.1")
        baseline: dict[str, dict[str, float]] = {}
        loaded = 0
        for size in SIZES:
            started = time.perf_counter()
            _load(loaded, size, publishers, categories)
            loaded = size
            load_seconds = time.perf_counter() - started
            for name, urls in _scenarios(size).items():
                figures = _measure(client, urls)
                base = baseline.setdefault(name, figures)
                rows.append(
                    {
                        "measure": f"{name} @ {size:,}",
                        "p50_ms": round(figures["p50_ms"], 1),
                        "p95_ms": round(figures["p95_ms"], 1),
                        "rps": round(figures["rps"], 1),
                        "p95_ratio": round(figures["p95_ms"] / base["p95_ms"], 2),
                        "rps_ratio": round(figures["rps"] / base["rps"], 2),
                        "baseline": "same measure @ 1,000",
                        "load_s": round(load_seconds, 1),
                    }
                )
    return rows


if __name__ == "__main__":
    for row in run():
        print("  ".join(f"{key}={value}" for key, value in row.items()))

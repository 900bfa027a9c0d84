"""Reads of listings: scoped lookups for publishers, the catalog and search, the review queue."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, cast

from django.db import connection
from django.db.models import Count, F, Field, FloatField, Prefetch, Q, QuerySet, Value
from django.db.models.functions import Coalesce
from django.http import Http404

from listings.models import (
    Category,
    Distribution,
    Kind,
    Product,
    ProductStatus,
    Revision,
    RevisionState,
    Screenshot,
    Tier,
)
from publishers.models import Publisher, Role
from publishers.selectors import get_publisher_for_member

SEARCH_CONFIG = "english"
VISIBLE = [ProductStatus.PUBLISHED, ProductStatus.ON_HOLD]
SORTS = {"relevance": "Relevance", "newest": "Newest", "name": "Name"}
MAX_TERMS = 8


# ---------------------------------------------------------------------------------------------
# Publisher-scoped


def get_product_for_member(user: Any, namespace: str, slug: str, *, write: bool = False) -> Product:
    """Product ``slug`` of publisher ``namespace`` as seen by ``user``.

    Outsiders get 404 as if neither existed; ``write`` needs the editor role (viewers get 403).
    """
    publisher = get_publisher_for_member(user, namespace, min_role=Role.EDITOR if write else Role.VIEWER)
    product = Product.objects.select_related("live_revision").filter(publisher=publisher, slug=slug).first()
    if product is None:
        raise Http404("No such product.")
    product.publisher = publisher  # keeps ``.membership`` for templates
    return product


def products_for_publisher(publisher: Publisher) -> list[Product]:
    """The publisher's products, each with ``latest`` (its newest revision) set."""
    products: list[Product] = list(
        Product.objects.filter(publisher=publisher)
        .select_related("category")
        .prefetch_related(
            Prefetch(
                "revisions",
                queryset=Revision.objects.only(
                    "id", "product_id", "number", "state", "name", "submitted_at"
                ).order_by("-number"),
                to_attr="revision_list",
            )
        )
        .order_by("name")
    )
    for product in products:
        revisions: list[Revision] = product.revision_list  # type: ignore[attr-defined]
        product.latest = revisions[0] if revisions else None  # type: ignore[attr-defined]
    return products


def latest_revision(product: Product) -> Revision:
    """The revision a publisher sees first: the one being worked on, else the newest."""
    revision = product.revisions.order_by("-number").first()
    if revision is None:
        raise Http404("This product has no revision.")
    return revision


def review_thread(product: Product) -> QuerySet[Any]:
    return product.comments.select_related("author", "revision").order_by("created_at", "id")


# ---------------------------------------------------------------------------------------------
# Catalog


def catalog() -> QuerySet[Product]:
    return Product.objects.filter(status__in=VISIBLE, live_revision__isnull=False)


def _for_cards(queryset: QuerySet[Product]) -> QuerySet[Product]:
    return queryset.select_related("publisher", "category", "live_revision").defer(
        "search_vector",
        "live_revision__long_description",
        "live_revision__installation_instructions",
        "publisher__story",
        "publisher__response_times",
        "publisher__self_help_links",
    )


def get_public_product(namespace: str, slug: str) -> Product:
    """A product customers may see (published or on hold), with its live revision's tiers and screenshots."""
    product = (
        catalog()
        .select_related("publisher", "category", "live_revision", "live_revision__category")
        .filter(publisher__namespace=namespace, slug=slug)
        .first()
    )
    if product is None or product.live_revision is None:
        raise Http404("No such product.")
    revision = product.live_revision
    revision.tier_list = list(Tier.objects.filter(revision=revision).order_by("position", "id"))  # type: ignore[attr-defined]
    revision.screenshot_list = list(Screenshot.objects.filter(revision=revision).order_by("position", "id"))  # type: ignore[attr-defined]
    return product


def home_sections(limit: int = 8) -> dict[str, Any]:
    """Categories with their number of visible products, the newest and the featured products."""
    counts = dict(catalog().values("category_id").annotate(n=Count("id")).values_list("category_id", "n"))
    categories = list(Category.objects.order_by("position", "name"))
    for category in categories:
        category.product_count = counts.get(category.pk, 0)  # type: ignore[attr-defined]
    visible = _for_cards(catalog())
    return {
        "categories": categories,
        "new": list(visible.order_by("-first_published_at", "-id")[:limit]),
        "featured": list(visible.filter(is_featured=True).order_by("name")[:limit]),
    }


@dataclass
class SearchParams:
    q: str = ""
    category: str = ""
    kind: str = ""
    pricing: str = ""
    certified: bool = False
    publisher: str = ""
    sort: str = "relevance"

    @classmethod
    def from_query(cls, data: Any) -> SearchParams:
        certified = str(data.get("certified", "")).lower() in {"1", "true", "on", "yes"}
        sort = data.get("sort") or data.get("ordering") or "relevance"
        return cls(
            q=(data.get("q") or data.get("search") or "").strip()[:200],
            category=data.get("category", "") or "",
            kind=data.get("kind", "") if data.get("kind", "") in Kind.values else "",
            pricing=data.get("pricing", "") if data.get("pricing", "") in ("free", "paid") else "",
            certified=certified,
            publisher=data.get("publisher", "") or "",
            sort=sort if sort in SORTS else "relevance",
        )


@dataclass
class Facet:
    value: str
    label: str
    count: int


@dataclass
class SearchFacets:
    categories: list[Facet] = field(default_factory=list)
    kinds: list[Facet] = field(default_factory=list)
    pricing: list[Facet] = field(default_factory=list)
    certified: int = 0
    publishers: list[Facet] = field(default_factory=list)
    total: int = 0


def search_terms(q: str) -> list[str]:
    return re.findall(r"\w+", q.lower())[:MAX_TERMS]


def apply_search(queryset: QuerySet[Product], q: str) -> QuerySet[Product]:
    """Products matching ``q``, annotated with ``relevance``.

    PostgreSQL: weighted full-text search on the stored vector (prefix-matching every word), or
    a trigram word similarity on the name for typos. Elsewhere: a substring match.
    """
    terms = search_terms(q)
    if not terms:
        return queryset.annotate(relevance=Value(0.0, output_field=FloatField()))
    if connection.vendor == "postgresql":
        from django.contrib.postgres.search import SearchQuery, SearchRank, TrigramWordSimilarity

        text = " ".join(terms)
        query = SearchQuery(
            " & ".join(f"{term}:*" for term in terms), search_type="raw", config=SEARCH_CONFIG
        )
        matches = queryset.filter(search_vector=query)
        if matches.exists():
            return matches.annotate(relevance=Coalesce(SearchRank(F("search_vector"), query), 0.0))
        # Nothing matched the words as typed: look for names with similar words (typos).
        return queryset.filter(name__trigram_word_similar=text).annotate(
            relevance=TrigramWordSimilarity(text, "name")
        )
    match = Q()
    for term in terms:
        match &= (
            Q(name__icontains=term)
            | Q(live_revision__tags__icontains=term)
            | Q(live_revision__short_description__icontains=term)
            | Q(live_revision__long_description__icontains=term)
            | Q(publisher__legal_name__icontains=term)
            | Q(publisher__namespace__icontains=term)
        )
    from django.db.models import Case, When

    return queryset.filter(match).annotate(
        relevance=Case(
            When(name__icontains=terms[0], then=Value(2.0)), default=Value(1.0), output_field=FloatField()
        )
    )


def _filtered(params: SearchParams, *, skip: str = "") -> QuerySet[Product]:
    queryset = apply_search(catalog(), params.q)
    if params.category and skip != "category":
        queryset = queryset.filter(category__slug=params.category)
    if params.kind and skip != "kind":
        queryset = queryset.filter(kind=params.kind)
    if params.pricing and skip != "pricing":
        queryset = queryset.filter(distribution=params.pricing)
    if params.certified and skip != "certified":
        queryset = queryset.filter(is_certified=True)
    if params.publisher and skip != "publisher":
        queryset = queryset.filter(publisher__namespace=params.publisher)
    return queryset


def search_products(params: SearchParams) -> QuerySet[Product]:
    """The catalog filtered and sorted by ``params``, ready for a page of cards."""
    queryset = _for_cards(_filtered(params))
    if params.sort == "newest":
        return queryset.order_by("-first_published_at", "-id")
    if params.sort == "name":
        return queryset.order_by("name", "id")
    if params.q:
        return queryset.order_by(F("relevance").desc(), "name", "id")
    return queryset.order_by("-is_featured", "-first_published_at", "-id")


def search_facets(params: SearchParams) -> SearchFacets:
    """Counts per facet value, and the total, from one grouped query over the search matches.

    Each facet counts with every other filter applied but its own, so choosing a category still
    shows how many results the other categories hold. Every filtered column is in the group key,
    so the filters can be applied to the grouped rows here.
    """
    grouped: Any = (
        apply_search(catalog(), params.q)
        .values(
            "category__slug",
            "category__name",
            "kind",
            "distribution",
            "is_certified",
            "publisher__namespace",
            "publisher__legal_name",
        )
        .annotate(n=Count("id"))
        .order_by()
    )
    rows: list[dict[str, Any]] = list(grouped)
    checks = {
        "category": lambda r: not params.category or r["category__slug"] == params.category,
        "kind": lambda r: not params.kind or r["kind"] == params.kind,
        "pricing": lambda r: not params.pricing or r["distribution"] == params.pricing,
        "certified": lambda r: not params.certified or r["is_certified"],
        "publisher": lambda r: not params.publisher or r["publisher__namespace"] == params.publisher,
    }

    def counted(skip: str, key: str, label: str) -> dict[tuple[str, str], int]:
        counts: dict[tuple[str, str], int] = {}
        for row in rows:
            if all(check(row) for name, check in checks.items() if name != skip):
                ident = (str(row[key]), str(row[label]))
                counts[ident] = counts.get(ident, 0) + row["n"]
        return counts

    def ordered(counts: dict[tuple[str, str], int]) -> list[Facet]:
        return [
            Facet(v, lbl, n)
            for (v, lbl), n in sorted(counts.items(), key=lambda item: (-item[1], item[0][1]))
        ]

    facets = SearchFacets()
    facets.total = sum(row["n"] for row in rows if all(check(row) for check in checks.values()))
    facets.categories = [
        f for f in ordered(counted("category", "category__slug", "category__name")) if f.value != "None"
    ]
    facets.publishers = ordered(counted("publisher", "publisher__namespace", "publisher__legal_name"))[:15]
    kinds = counted("kind", "kind", "kind")
    facets.kinds = [Facet(k, Kind(k).label, kinds.get((k, k), 0)) for k in Kind.values]
    pricing = counted("pricing", "distribution", "distribution")
    facets.pricing = [
        Facet(v, "Free" if v == "free" else "Paid", pricing.get((v, v), 0)) for v in Distribution.values
    ]
    facets.certified = sum(
        n for (v, _), n in counted("certified", "is_certified", "is_certified").items() if v == "True"
    )
    return facets


# ---------------------------------------------------------------------------------------------
# Moderation


def review_queue() -> QuerySet[Revision]:
    """Revisions waiting for a decision, oldest first."""
    return (
        Revision.objects.filter(state=RevisionState.IN_REVIEW)
        .select_related("product__publisher", "category")
        .order_by("submitted_at", "id")
    )


@dataclass
class DiffRow:
    label: str
    submitted: Any
    live: Any
    changed: bool


def revision_diff(submitted: Revision, live: Revision | None) -> list[DiffRow]:
    """The manifest of ``submitted`` beside ``live``, each row marked when it changed."""
    rows = []
    for name in [
        "name",
        "logo",
        "short_description",
        "category",
        "tags",
        "long_description",
        "support_url",
        "installation_instructions",
        "licence_url",
        "distribution",
        "access_policy",
        "kind",
        "engine_compatibility",
    ]:
        field_ = cast(Field, Revision._meta.get_field(name))
        new = _display(submitted, name)
        old = _display(live, name) if live is not None else ""
        rows.append(DiffRow(str(field_.verbose_name).capitalize(), new, old, live is None or new != old))
    return rows


def _display(revision: Revision, name: str) -> Any:
    getter = getattr(revision, f"get_{name}_display", None)
    if callable(getter):
        return getter()
    value = getattr(revision, name)
    if name == "logo":
        return value.name if value else ""
    return "" if value is None else str(value)


@dataclass
class TierDiff:
    tier: Tier
    status: str  # "new", "changed", "unchanged"
    changed_fields: list[str]


def tier_diff(submitted: Revision, live: Revision | None) -> tuple[list[TierDiff], list[Tier]]:
    """Tiers of ``submitted`` marked new/changed against ``live``, and the live tiers it drops."""
    fields = [
        "name",
        "description",
        "price",
        "currency",
        "billing",
        "trial_days",
        "licence_required",
        "staging_source",
        "repository",
    ]
    before = {t.key: t for t in live.tiers.all()} if live is not None else {}
    result = []
    for tier in submitted.tiers.order_by("position", "id"):
        old = before.pop(tier.key, None)
        if old is None:
            result.append(TierDiff(tier, "new", []))
            continue
        changed = [f for f in fields if getattr(old, f) != getattr(tier, f)]
        result.append(TierDiff(tier, "changed" if changed else "unchanged", changed))
    return result, list(before.values())


def scan_summary(revision: Revision) -> Any:
    """The scan results of the revision's images, for the review page."""
    from scanning.selectors import scan_summary_for_revision  # scanning's models import listings

    return scan_summary_for_revision(revision)

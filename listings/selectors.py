"""Reads of listings: scoped lookups for publishers, the catalog and search, the review queue."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast, overload

from django.contrib.postgres.search import SearchVectorField
from django.core.cache import cache
from django.db import connection
from django.db.models import Case, Count, F, Field, FloatField, Func, Prefetch, Q, QuerySet, Value, When
from django.db.models.functions import Coalesce
from django.http import Http404

from listings.models import (
    MANIFEST_FIELDS,
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
    certified: bool | None = None  # None: either; the page only ever asks for True
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
            certified=True if certified else None,
            publisher=data.get("publisher", "") or "",
            sort=sort if sort in SORTS else "relevance",
        )

    @property
    def has_filters(self) -> bool:
        return bool(
            self.category or self.kind or self.pricing or self.certified is not None or self.publisher
        )


@dataclass
class Facet:
    value: str
    label: str
    count: int


@dataclass
class SearchFacets:
    """Counts per facet value. With ``capped`` they are lower bounds, counted in the first
    ``RESULT_CAP`` matches only (the page says so)."""

    categories: list[Facet] = field(default_factory=list)
    kinds: list[Facet] = field(default_factory=list)
    pricing: list[Facet] = field(default_factory=list)
    certified: int = 0
    publishers: list[Facet] = field(default_factory=list)
    total: int = 0
    capped: bool = False


class Cards(Sequence[Product]):
    """Products in a given order, fetched a slice at a time as catalog cards (what a Paginator needs).

    A slice costs two queries: the ids of the slice in order, reading the products table alone,
    then those products with what the cards show. Joining first would join every match before
    the ordering picks the page. ``ordered`` may also be the ids themselves, already in order
    (the ranked candidates of a broad search): then a slice costs the second query only.
    """

    def __init__(self, ordered: QuerySet[Product] | list[int], count: int, *, capped: bool = False) -> None:
        self._ordered = ordered  # not "ordered": Paginator reads that as QuerySet.ordered
        self._count = count
        self.capped = capped  # more products match than the ``count`` paged through

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> Product: ...
    @overload
    def __getitem__(self, index: slice) -> list[Product]: ...
    def __getitem__(self, index: int | slice) -> Product | list[Product]:
        if isinstance(index, int):
            return self[index : index + 1][0]
        if isinstance(self._ordered, list):
            ids = self._ordered[index]
        else:
            ids = list(self._ordered.values_list("id", flat=True)[index])
        cards = _for_cards(Product.objects.filter(id__in=ids)).in_bulk()
        return [cards[pk] for pk in ids if pk in cards]


@dataclass
class SearchResult:
    """One search: its facets, how many products match, and the products in order.

    When more than ``RESULT_CAP`` products match, ``total`` is ``RESULT_CAP + 1`` ("1,000+"), and
    only the best ``RESULT_CAP`` are paged through (sorted by relevance: the ranked candidates,
    fewer), ``len(products)`` of them: narrowing the search shows the rest.
    """

    products: Cards
    facets: SearchFacets
    total: int

    @property
    def capped(self) -> bool:
        return self.total > RESULT_CAP


# Counts, facets and relevance ranking are exact up to this many matches. Beyond it a search is
# "broad" (a word in a tenth of the catalog): counting or ranking every match would make the page
# as slow as the catalog is big, so it counts up to the cap and ranks a bounded set of candidates.
RESULT_CAP = 1_000
RANK_CANDIDATES = 250
FACETS_CACHE_SECONDS = 60
MODE_ALL, MODE_WORDS, MODE_SIMILAR, MODE_SUBSTRING = "all", "words", "similar", "substring"


def search_terms(q: str) -> list[str]:
    return re.findall(r"\w+", q.lower())[:MAX_TERMS]


def _words_query(terms: list[str]) -> Any:
    from django.contrib.postgres.search import SearchQuery

    # Every word, each as a prefix: "postg" finds PostgreSQL while the visitor is still typing.
    return SearchQuery(" & ".join(f"{term}:*" for term in terms), search_type="raw", config=SEARCH_CONFIG)


class NameVector(Func):
    """The product name's own text-search vector, matching the expression index of migration 0004.

    It finds name matches (the best-ranked ones) with an index, without reading every match.
    """

    template = f"to_tsvector('{SEARCH_CONFIG}'::regconfig, (%(expressions)s)::text)"
    output_field = SearchVectorField()


def _mode(queryset: QuerySet[Product], terms: list[str]) -> str:
    """How ``terms`` are matched: by words, or, when no word matches (a typo), by name similarity."""
    if not terms:
        return MODE_ALL
    if connection.vendor != "postgresql":
        return MODE_SUBSTRING
    return MODE_WORDS if queryset.filter(search_vector=_words_query(terms)).exists() else MODE_SIMILAR


def _matching(queryset: QuerySet[Product], terms: list[str], mode: str) -> QuerySet[Product]:
    if mode == MODE_WORDS:
        return queryset.filter(search_vector=_words_query(terms))
    if mode == MODE_SIMILAR:
        return queryset.filter(name__trigram_word_similar=" ".join(terms))
    if mode == MODE_SUBSTRING:
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
        return queryset.filter(match)
    return queryset


def _ranked(queryset: QuerySet[Product], terms: list[str], mode: str) -> QuerySet[Product]:
    """``queryset`` annotated with ``relevance``: weighted full-text rank, name similarity for
    typos, or (SQLite) whether the name holds the first word."""
    if mode == MODE_WORDS:
        from django.contrib.postgres.search import SearchRank

        return queryset.annotate(relevance=Coalesce(SearchRank(F("search_vector"), _words_query(terms)), 0.0))
    if mode == MODE_SIMILAR:
        from django.contrib.postgres.search import TrigramWordSimilarity

        return queryset.annotate(relevance=TrigramWordSimilarity(" ".join(terms), "name"))
    if mode == MODE_SUBSTRING:
        return queryset.annotate(
            relevance=Case(
                When(name__icontains=terms[0], then=Value(2.0)), default=Value(1.0), output_field=FloatField()
            )
        )
    return queryset.annotate(relevance=Value(0.0, output_field=FloatField()))


def apply_search(queryset: QuerySet[Product], q: str) -> QuerySet[Product]:
    """Products of ``queryset`` matching ``q``, annotated with ``relevance``.

    PostgreSQL: weighted full-text search on the stored vector (prefix-matching every word), or
    a trigram word similarity on the name for typos. Elsewhere: a substring match.
    """
    terms = search_terms(q)
    mode = _mode(queryset, terms)
    return _ranked(_matching(queryset, terms, mode), terms, mode)


def _filter(queryset: QuerySet[Product], params: SearchParams) -> QuerySet[Product]:
    if params.category:
        queryset = queryset.filter(category__slug=params.category)
    if params.kind:
        queryset = queryset.filter(kind=params.kind)
    if params.pricing:
        queryset = queryset.filter(distribution=params.pricing)
    if params.certified is not None:
        queryset = queryset.filter(is_certified=params.certified)
    if params.publisher:
        queryset = queryset.filter(publisher__namespace=params.publisher)
    return queryset


def _first(queryset: QuerySet[Product], limit: int) -> QuerySet[Product, Any]:
    """The ids of the first ``limit`` products of ``queryset`` in whatever order is cheapest."""
    return queryset.order_by().values("id")[:limit]


FACET_COLUMNS = ["category_id", "kind", "distribution", "is_certified", "publisher_id"]


def _facet_rows(terms: list[str], mode: str) -> list[dict[str, Any]]:
    """Matches grouped by every facet column, over the first ``RESULT_CAP + 1`` matches.

    One query: the sample reads the facet columns as it finds the matches and is grouped as it
    is, then only the groups (a few hundred at most) are joined for the labels. (Grouping
    ``id IN (sample)`` would look every sampled product up again by its key.)

    Broad searches (more rows than the cap, browsing without words too) keep their rows in the
    cache for a minute: their counts are lower bounds anyway, and the same broad words come back
    often. Narrower ones are always counted afresh, so a newly approved product shows at once.
    """
    key = "listings:facets:" + hashlib.sha256(f"{mode}:{' '.join(terms)}".encode()).hexdigest()
    cached = cache.get(key)
    if cached is not None:
        return cast(list[dict[str, Any]], cached)
    sample = _matching(catalog(), terms, mode).order_by().values(*FACET_COLUMNS)[: RESULT_CAP + 1]
    sql, params = sample.query.sql_with_params()
    columns = ", ".join(FACET_COLUMNS)
    # Only constants and the ORM's compiled SQL are interpolated; every value stays a parameter.
    grouped = (
        "SELECT c.slug, c.name, s.kind, s.distribution, s.is_certified, p.namespace, p.legal_name, s.n"  # noqa: S608
        f" FROM (SELECT {columns}, COUNT(*) AS n FROM ({sql}) sample GROUP BY {columns}) s"
        f" LEFT JOIN {Category._meta.db_table} c ON c.id = s.category_id"
        f" JOIN {Publisher._meta.db_table} p ON p.id = s.publisher_id"
    )
    keys = [
        "category__slug",
        "category__name",
        "kind",
        "distribution",
        "is_certified",
        "publisher__namespace",
        "publisher__legal_name",
        "n",
    ]
    with connection.cursor() as cursor:
        cursor.execute(grouped, params)
        rows = [dict(zip(keys, row, strict=True)) for row in cursor.fetchall()]
    for row in rows:
        row["is_certified"] = bool(row["is_certified"])  # SQLite answers 0 or 1
    if sum(row["n"] for row in rows) > RESULT_CAP:
        cache.set(key, rows, FACETS_CACHE_SECONDS)
    return rows


def _facets(params: SearchParams, rows: list[dict[str, Any]]) -> SearchFacets:
    """Counts per facet value from the grouped rows.

    Each facet counts with every other filter applied but its own, so choosing a category still
    shows how many results the other categories hold. Every filtered column is in the group key,
    so the filters can be applied to the grouped rows here.
    """
    checks = {
        "category": lambda r: not params.category or r["category__slug"] == params.category,
        "kind": lambda r: not params.kind or r["kind"] == params.kind,
        "pricing": lambda r: not params.pricing or r["distribution"] == params.pricing,
        "certified": lambda r: params.certified is None or r["is_certified"] == params.certified,
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

    facets = SearchFacets(capped=sum(row["n"] for row in rows) > RESULT_CAP)
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


def _candidates(params: SearchParams, matches: QuerySet[Product], terms: list[str], mode: str) -> Any:
    """Ids of a bounded set of matches that holds the best-ranked ones.

    Names weigh most in the rank, so the candidates are the matches whose name holds the words
    (an index finds them) and, for searches that match few names, the first other matches. When
    no more than ``RANK_CANDIDATES`` names match, the best results are the exact ones.
    """
    first = _first(matches, RANK_CANDIDATES)
    if mode != MODE_WORDS:
        return first
    # The name is in the search vector too, so a name match needs no second test on the vector.
    in_name = catalog().alias(name_vector=NameVector("name")).filter(name_vector=_words_query(terms))
    return first.union(_first(_filter(in_name, params), RANK_CANDIDATES))


def search(params: SearchParams) -> SearchResult:
    """The catalog filtered and sorted by ``params``, with its facets, in a bounded amount of work.

    Up to ``RESULT_CAP`` matches everything is exact. Beyond, the total and the facet counts are
    lower bounds ("1,000+") and relevance ranks a bounded candidate set (see ``_candidates``).
    """
    terms = search_terms(params.q)
    # Words first; the facet rows tell whether any product holds them. (Asking first with an
    # EXISTS ... LIMIT 1 lets the planner scan the table for rare words it cannot estimate.)
    mode = MODE_WORDS if terms and connection.vendor == "postgresql" else _mode(catalog(), terms)
    rows = _facet_rows(terms, mode)
    if mode == MODE_WORDS and not rows:
        mode = MODE_SIMILAR  # no product holds the words: a typo, look for similar names
        rows = _facet_rows(terms, mode)
    facets = _facets(params, rows)
    matches = _filter(_matching(catalog(), terms, mode), params)
    total = facets.total
    if facets.capped and params.has_filters:
        total = _first(matches, RESULT_CAP + 1).count()  # the filters may bring it under the cap
    elif facets.capped:
        total = RESULT_CAP + 1
    if params.sort == "newest":
        ordered = matches.order_by("-first_published_at", "-id")
    elif params.sort == "name":
        ordered = matches.order_by("name", "id")
    elif terms and total > RESULT_CAP:
        # Only the candidates are ranked, so only they are paged through: read them all (a few
        # hundred ids) so the pages' count is theirs, not the cap's (no empty pages at the end).
        candidates = Product.objects.filter(id__in=_candidates(params, matches, terms, mode))
        ranked = _ranked(candidates, terms, mode).order_by(F("relevance").desc(), "name", "id")
        ids = list(ranked.values_list("id", flat=True)[:RESULT_CAP])
        return SearchResult(products=Cards(ids, len(ids), capped=True), facets=facets, total=total)
    elif terms:
        ordered = _ranked(matches, terms, mode).order_by(F("relevance").desc(), "name", "id")
    else:
        ordered = matches.order_by("-is_featured", "-first_published_at", "-id")
    cards = Cards(ordered, min(total, RESULT_CAP), capped=total > RESULT_CAP)
    return SearchResult(products=cards, facets=facets, total=total)


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
    for name in MANIFEST_FIELDS:
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

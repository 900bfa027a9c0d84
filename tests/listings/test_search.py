"""Broad searches: counts up to a cap, a bounded set of ranked candidates, facets cached briefly."""

from __future__ import annotations

import hashlib

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from listings import selectors
from tests.listings.helpers import published

pytestmark = pytest.mark.django_db


def _sonars(personas, moderator, word: str, n: int = 5) -> None:
    for i in range(n):
        published(
            personas.acme, personas.member, moderator, name=f"Sonar {i}", long_description=f"Finds {word}s."
        )


def test_a_broad_search_says_how_many_at_least_and_ranks_name_matches_first(
    client, personas, moderator, small_cap, is_postgres
):
    _sonars(personas, moderator, "kraken")
    published(personas.acme, personas.member, moderator, name="Kraken Watch")  # made last: read last
    response = client.get("/search/?q=kraken")
    result = response.context["result"]
    assert result.capped and result.facets.capped
    content = response.content.decode()
    assert "3+ results" in content
    assert "there are at least that many" in content
    assert "(4+)" in content  # the facet counts are lower bounds, from the first cap + 1 matches
    page = response.context["page"]
    assert page.paginator.count == 3  # only the best three are paged through
    if is_postgres:
        assert page.object_list[0].name == "Kraken Watch"


def test_filters_can_bring_a_broad_search_under_the_cap(client, personas, moderator, small_cap):
    _sonars(personas, moderator, "kraken")
    published(personas.other, personas.outsider, moderator, name="Globex Kraken")
    result = client.get("/search/?q=kraken&publisher=globex").context["result"]
    assert (result.total, result.capped) == (1, False)
    assert [p.name for p in result.products[0:10]] == ["Globex Kraken"]


def test_searches_under_the_cap_are_exact(client, personas, moderator, small_cap):
    _sonars(personas, moderator, "kraken", n=2)
    published(personas.acme, personas.member, moderator, name="Squid", long_description="Not related.")
    response = client.get("/search/?q=kraken")
    result = response.context["result"]
    assert (result.total, result.capped, result.facets.capped) == (2, False, False)
    assert "2 results" in response.content.decode()


def test_broad_facets_are_kept_for_a_minute(client, personas, moderator, monkeypatch):
    monkeypatch.setattr(selectors, "RESULT_CAP", 2)
    _sonars(personas, moderator, "narwhal", n=3)
    key = "listings:facets:" + hashlib.sha256(b"words:narwhal").hexdigest()
    try:
        with CaptureQueriesContext(connection) as first:
            client.get("/search/?q=narwhal")
        with CaptureQueriesContext(connection) as second:
            client.get("/search/?q=narwhal")
        if connection.vendor == "postgresql":
            assert cache.get(key) is not None
            assert len(second) == len(first) - 1  # no grouped facet query
    finally:
        cache.delete(key)


def test_cards_are_fetched_a_slice_at_a_time_in_order(personas, moderator):
    for name in ["Beta", "Alpha", "Gamma"]:
        published(personas.acme, personas.member, moderator, name=name)
    cards = selectors.Cards(selectors.catalog().order_by("-name"), 3)
    assert len(cards) == 3
    with CaptureQueriesContext(connection) as ctx:
        assert [p.name for p in cards[0:2]] == ["Gamma", "Beta"]
    assert len(ctx) == 2
    assert cards[2].name == "Alpha"

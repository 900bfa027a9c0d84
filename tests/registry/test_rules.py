"""Every rule of registry/rules.py, with the owner / editor / viewer / outsider personas."""

from __future__ import annotations

import pytest

from listings.models import AccessPolicy, ProductStatus, RevisionState
from registry import rules
from registry.rules import Identity, ScopeError
from registry.tokens import Access
from tests.factories import UserFactory
from tests.registry.conftest import Licences, make_tier

pytestmark = pytest.mark.django_db

SERVICE = Identity(is_service=True, service_name="store-service")
ANONYMOUS = Identity()


def actions(identity: Identity, name: str) -> set[str]:
    return rules.repository_actions(identity, name)


def test_staging_push_and_pull_for_editors_and_above_pull_for_viewers_nothing_for_others(personas) -> None:
    assert actions(Identity(user=personas.owner), "acme/anything") == {"pull", "push"}
    assert actions(Identity(user=personas.member), "acme/anything") == {"pull", "push"}
    assert actions(Identity(user=personas.viewer), "acme/anything") == {"pull"}
    assert actions(Identity(user=personas.outsider), "acme/anything") == set()
    assert actions(ANONYMOUS, "acme/anything") == set()
    assert actions(Identity(user=personas.outsider), "globex/own") == {"pull", "push"}
    assert actions(Identity(user=personas.owner), "nobody/repo") == set()


def test_customer_facing_repositories_follow_may_pull_and_are_never_pushed(
    personas, licences: Licences
) -> None:
    tier = make_tier(personas.acme, slug="db")
    buyer = UserFactory(email="buyer@example.com")
    assert actions(Identity(user=buyer), "acme/db") == set()
    licences.grant(buyer, tier)
    assert actions(Identity(user=buyer), "acme/db") == {"pull"}
    # Not even the publisher's owner pushes to a customer-facing repository: only promotion does.
    assert "push" not in actions(Identity(user=personas.owner), "acme/db")
    assert actions(SERVICE, "acme/db") == {"pull", "push"}


@pytest.mark.parametrize(
    ("policy", "anonymous", "logged_in"),
    [
        (AccessPolicy.EVERYONE, {"pull"}, {"pull"}),
        (AccessPolicy.LOGGED_IN, set(), {"pull"}),
        (AccessPolicy.LICENCE_HOLDERS, set(), set()),
    ],
)
def test_access_policy(personas, licences: Licences, policy: str, anonymous: set, logged_in: set) -> None:
    make_tier(personas.acme, slug="pol", policy=policy, price="0")
    assert actions(ANONYMOUS, "acme/pol") == anonymous
    assert actions(Identity(user=UserFactory()), "acme/pol") == logged_in


def test_on_hold_licence_holders_keep_pulling_revoked_nobody(personas, licences: Licences) -> None:
    tier = make_tier(personas.acme, slug="held", policy=AccessPolicy.EVERYONE, price="0")
    holder = UserFactory(email="holder@example.com")
    licences.grant(holder, tier)
    product = tier.revision.product
    product.status = ProductStatus.ON_HOLD
    product.save(update_fields=["status"])
    assert actions(Identity(user=holder), "acme/held") == {"pull"}
    assert actions(ANONYMOUS, "acme/held") == set(), "on hold: only licence holders"
    product.status = ProductStatus.REVOKED
    product.save(update_fields=["status"])
    assert actions(Identity(user=holder), "acme/held") == set()


def test_moderators_pull_what_is_under_review_only(personas, licences: Licences) -> None:
    moderator = UserFactory(email="mod@store.example.com", is_staff=True)
    make_tier(personas.acme, slug="review", state=RevisionState.IN_REVIEW, status=ProductStatus.DRAFT)
    assert actions(Identity(user=moderator), "acme/review-staging") == {"pull"}
    assert actions(Identity(user=moderator), "acme/review") == {"pull"}
    assert actions(Identity(user=moderator), "acme/not-in-review") == set()


def test_a_draft_tier_repository_is_customer_facing_already(personas, licences: Licences) -> None:
    """A name a tier claims can never be pushed by editors, even before the first approval."""
    make_tier(personas.acme, slug="soon", state=RevisionState.DRAFT, status=ProductStatus.DRAFT)
    assert actions(Identity(user=personas.member), "acme/soon") == set()


def test_catalog_only_for_the_service_identity(personas) -> None:
    asked = [Access("registry", "catalog", ("*",))]
    assert rules.grant(SERVICE, asked) == [Access("registry", "catalog", ("*",))]
    assert rules.grant(Identity(user=personas.owner), asked) == [Access("registry", "catalog", ())]
    assert rules.grant(ANONYMOUS, asked) == [Access("registry", "catalog", ())]


def test_grant_is_asked_intersected_with_allowed(personas) -> None:
    asked = rules.parse_scopes(
        ["repository:acme/a:pull,push repository:globex/b:pull", "repository:acme/a:delete"]
    )
    granted = rules.grant(Identity(user=personas.viewer), asked)
    assert granted == [
        Access("repository", "acme/a", ("pull",)),
        Access("repository", "globex/b", ()),
    ]
    assert rules.grant(Identity(user=personas.member), rules.parse_scopes(["repository:acme/a:*"])) == [
        Access("repository", "acme/a", ("pull", "push"))
    ]


@pytest.mark.parametrize(
    "scope",
    [
        "repository",
        "repository:acme/db",
        "repository:Acme/DB:pull",
        "repository:acme/db:pull;rm",
        ":acme/db:pull",
    ],
)
def test_malformed_scopes_are_refused_with_a_reason(scope: str) -> None:
    with pytest.raises(ScopeError):
        rules.parse_scopes([scope])


def test_scope_parsing_merges_duplicates_and_accepts_resource_classes() -> None:
    parsed = rules.parse_scopes(
        ["repository:acme/db:pull", "repository:acme/db:push repository(plugin):acme/p:pull"]
    )
    assert parsed == [
        Access("repository", "acme/db", ("pull", "push")),
        Access("repository(plugin)", "acme/p", ("pull",)),
    ]
    with pytest.raises(ScopeError, match="At most"):
        rules.parse_scopes([" ".join(f"repository:acme/r{i}:pull" for i in range(rules.MAX_SCOPES + 1))])


@pytest.mark.django_db(transaction=True)
def test_the_lookup_is_the_connection_health_check_and_survives_a_dead_connection(
    personas, monkeypatch
) -> None:
    """With CONN_HEALTH_CHECKS the lookup itself probes a reused connection (no ``SELECT 1``
    first); a connection that died meanwhile is replaced and the answer is the same."""
    from django.db import connections

    connection = connections["default"]
    editor = Identity(user=personas.member)
    assert actions(editor, "acme/anything") == {"pull", "push"}  # the connection is open
    monkeypatch.setattr(connection, "health_check_enabled", True)
    probes: list[bool] = []
    real_is_usable = connection.is_usable
    monkeypatch.setattr(connection, "is_usable", lambda: probes.append(True) or real_is_usable())

    connection.health_check_done = False
    assert actions(editor, "acme/anything") == {"pull", "push"}
    assert probes == [], "a healthy connection costs no SELECT 1"
    assert connection.health_check_done

    dead = connection.connection
    dead.close()  # as when the server ends an idle connection
    connection.health_check_done = False
    assert actions(editor, "acme/anything") == {"pull", "push"}
    assert connection.connection is not dead

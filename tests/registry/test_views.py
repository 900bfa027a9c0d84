"""The token endpoint and the events endpoint, through Django's test client."""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path

import jwt
import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.models import Scope
from audit.models import AuditEvent, EventType
from listings.models import AccessPolicy, RevisionState
from registry import tokens
from registry.models import Outcome, RegistryEvent
from tests.factories import UserFactory
from tests.registry.conftest import Licences, ScanRequests, make_tier, registry_token

pytestmark = pytest.mark.django_db

TOKEN_URL = "/registry/token"
EVENTS_URL = "/registry/events"
SECRET = "events-test-secret"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DIGEST = "sha256:" + "a" * 64


@pytest.fixture(autouse=True)
def registry_settings(settings, tmp_path: Path) -> None:
    settings.REGISTRY_TOKEN_KEY_FILE = str(tmp_path / "token.key")
    settings.REGISTRY_TOKEN_CERT_FILE = str(tmp_path / "token.crt")
    settings.REGISTRY_SERVICE = "registry-test"
    settings.REGISTRY_EVENTS_SECRET = SECRET
    settings.REGISTRY_SERVICE_USERNAME = "store-service"
    settings.REGISTRY_SERVICE_PASSWORD = "service-password"
    settings.REGISTRY_TOKEN_RATE = 1000
    tokens.create_key_and_certificate(key_file=tokens.key_path(), cert_file=tokens.cert_path())


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def ask(client: Client, *scopes: str, auth: str | None = None, **params: str):
    headers = {"Authorization": auth} if auth else {}
    return client.get(
        TOKEN_URL, {"service": "registry-test", "scope": list(scopes), **params}, headers=headers
    )


def access_of(response) -> list[dict]:
    assert response.status_code == 200, response.content
    token = response.json()["token"]
    return jwt.decode(token, options={"verify_signature": False})["access"]


# -- token endpoint ----------------------------------------------------------------------------


def test_editor_gets_push_and_pull_on_staging_with_several_scopes(
    client: Client, personas, licences: Licences
) -> None:
    auth = basic(personas.member.email, registry_token(personas.member))
    response = ask(
        client,
        "repository:acme/pg:pull,push repository:globex/x:pull",
        "repository:acme/other:pull",
        auth=auth,
    )
    assert access_of(response) == [
        {"type": "repository", "name": "acme/pg", "actions": ["pull", "push"]},
        {"type": "repository", "name": "globex/x", "actions": []},
        {"type": "repository", "name": "acme/other", "actions": ["pull"]},
    ]
    claims = jwt.decode(response.json()["token"], options={"verify_signature": False})
    assert claims["sub"] == personas.member.email
    assert response["Cache-Control"].startswith("max-age=0")


def test_a_user_without_rights_gets_a_token_with_empty_actions_not_401(client: Client, personas) -> None:
    stranger = UserFactory(email="stranger@example.com")
    response = ask(client, "repository:acme/pg:pull", auth=basic(stranger.email, registry_token(stranger)))
    assert access_of(response) == [{"type": "repository", "name": "acme/pg", "actions": []}]


def test_anonymous_gets_what_everyone_may_pull(client: Client, personas, licences: Licences) -> None:
    make_tier(personas.acme, slug="open", policy=AccessPolicy.EVERYONE, price="0")
    response = ask(client, "repository:acme/open:pull,push", "repository:acme/private:pull")
    assert access_of(response) == [
        {"type": "repository", "name": "acme/open", "actions": ["pull"]},
        {"type": "repository", "name": "acme/private", "actions": []},
    ]
    assert jwt.decode(response.json()["token"], options={"verify_signature": False})["sub"] == ""


def test_docker_login_without_scope_gets_a_token(client: Client, personas) -> None:
    """`docker login` asks with no scope at all: it only checks the credentials."""
    response = ask(
        client,
        auth=basic(personas.member.email, registry_token(personas.member)),
        account=personas.member.email,
    )
    assert access_of(response) == []


@pytest.mark.parametrize(
    ("auth", "message"),
    [
        (basic("editor@acme.example.com", "dst_not-a-token"), "Unknown access token"),
        (basic("someone-else@example.com", "<token>"), "belongs to another account"),
        ("Bearer abc", "HTTP Basic"),
        ("Basic !!!", "base64"),
        (basic("store-service", "wrong"), "service identity"),
    ],
)
def test_bad_credentials_get_401_with_a_reason(client: Client, personas, auth: str, message: str) -> None:
    auth = auth.replace(
        base64.b64encode(b"someone-else@example.com:<token>").decode(),
        base64.b64encode(f"someone-else@example.com:{registry_token(personas.member)}".encode()).decode(),
    )
    response = ask(client, "repository:acme/pg:pull", auth=auth)
    assert response.status_code == 401
    assert message in response.json()["errors"][0]["message"]
    assert response["WWW-Authenticate"].startswith("Basic ")


def test_a_token_without_the_registry_scope_is_refused(client: Client, personas) -> None:
    raw = registry_token(personas.member, scopes=[Scope.READ, Scope.WRITE])
    response = ask(client, "repository:acme/pg:pull", auth=basic(personas.member.email, raw))
    assert response.status_code == 401
    assert "“registry” scope" in response.json()["errors"][0]["message"]


def test_the_service_identity_gets_catalog_and_staging_pull(client: Client, personas) -> None:
    response = ask(
        client,
        "registry:catalog:*",
        "repository:acme/pg:pull,push",
        auth=basic("store-service", "service-password"),
    )
    assert access_of(response) == [
        {"type": "registry", "name": "catalog", "actions": ["*"]},
        {"type": "repository", "name": "acme/pg", "actions": ["pull"]},
    ]


def test_malformed_scope_and_unknown_service_get_400(client: Client) -> None:
    bad = ask(client, "repository:acme/pg")
    assert bad.status_code == 400
    assert "type:name:actions" in bad.json()["errors"][0]["message"]
    other = client.get(TOKEN_URL, {"service": "elsewhere", "scope": "repository:acme/pg:pull"})
    assert other.status_code == 400


def test_token_requests_are_throttled_per_address(client: Client, settings) -> None:
    settings.REGISTRY_TOKEN_RATE = 3
    codes = [client.get(TOKEN_URL, REMOTE_ADDR="198.51.100.7").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    refused = client.get(TOKEN_URL, REMOTE_ADDR="198.51.100.7")
    assert int(refused["Retry-After"]) >= 1
    assert client.get(TOKEN_URL, REMOTE_ADDR="198.51.100.8").status_code == 200, "other addresses unaffected"


def test_token_view_query_count(
    client: Client, personas, licences: Licences, django_assert_max_num_queries
) -> None:
    raw = registry_token(personas.member)
    ask(
        client, "repository:acme/pg:pull", auth=basic(personas.member.email, raw)
    )  # last_used_at written once
    with django_assert_max_num_queries(3):
        ask(client, "repository:acme/pg:pull,push", auth=basic(personas.member.email, raw))


# -- events endpoint ---------------------------------------------------------------------------


def event(
    *,
    action: str = "pull",
    repository: str,
    method: str = "GET",
    media_type: str = MANIFEST,
    actor: str = "",
    tag: str = "1.0",
    event_id: str | None = None,
) -> dict:
    return {
        "id": event_id or str(uuid.uuid4()),
        "timestamp": "2026-11-29T15:27:42.528005819Z",
        "action": action,
        "target": {
            "mediaType": media_type,
            "digest": DIGEST,
            "repository": repository,
            "tag": tag,
            "size": 401,
        },
        "request": {
            "id": "r",
            "addr": "127.0.0.1:1",
            "host": "registry",
            "method": method,
            "useragent": "skopeo",
        },
        "actor": {"name": actor},
        "source": {"addr": "vm:5000", "instanceID": "i"},
    }


def post(client: Client, events: list[dict] | bytes, secret: str = SECRET):
    body = events if isinstance(events, bytes) else json.dumps({"events": events}).encode()
    return client.post(
        EVENTS_URL,
        body,
        content_type="application/vnd.docker.distribution.events.v1+json",
        headers={"Authorization": f"Bearer {secret}"},
    )


def downloads() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(event_type=EventType.DOWNLOAD))


def test_events_need_the_shared_secret(client: Client) -> None:
    assert post(client, [], secret="wrong").status_code == 401
    assert client.post(EVENTS_URL, b"{}", content_type="application/json").status_code == 401


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "not JSON"),
        (b"[]", '"events" list'),
        (json.dumps({"events": [1]}).encode(), "events[0] must be an object"),
        (
            json.dumps(
                {
                    "events": [
                        {
                            "id": "x",
                            "timestamp": "yesterday",
                            "action": "pull",
                            "target": {"repository": "a/b"},
                        }
                    ]
                }
            ).encode(),
            "ISO 8601",
        ),
        (
            json.dumps(
                {
                    "events": [
                        {
                            "timestamp": "2026-01-01T00:00:00Z",
                            "action": "pull",
                            "target": {"repository": "a/b"},
                        }
                    ]
                }
            ).encode(),
            "events[0].id",
        ),
    ],
)
def test_malformed_bodies_get_400_with_a_clear_message(client: Client, body: bytes, message: str) -> None:
    response = post(client, body)
    assert response.status_code == 400
    assert message in response.json()["error"]


def test_a_manifest_get_is_one_download_and_a_redelivery_counts_once(
    client: Client, personas, licences: Licences
) -> None:
    tier = make_tier(personas.acme, slug="db", price="0")
    buyer = UserFactory(email="buyer@example.com")
    pull = event(repository="acme/db", actor=buyer.email)

    assert post(client, [pull]).json() == {"received": 1, "new": 1, "downloads": 1, "scans": 0}
    assert post(client, [pull]).json() == {"received": 1, "new": 0, "downloads": 0, "scans": 0}

    [download] = downloads()
    assert download.actor == buyer
    assert download.publisher_id == personas.acme.pk
    assert download.target_id == str(tier.revision.product.pk)
    assert download.data["tier"] == str(tier.key)
    assert download.data["customer"] == "free"
    assert download.occurred_at.isoformat().startswith("2026-11-29T15:27:42.528005")


def test_heads_blobs_staging_and_the_store_itself_are_not_downloads(
    client: Client, personas, licences: Licences, settings
) -> None:
    make_tier(personas.acme, slug="db")
    settings.REGISTRY_SERVICE_USERNAME = "store-service"
    events = [
        event(repository="acme/db", method="HEAD"),
        event(repository="acme/db", media_type="application/octet-stream"),
        event(repository="acme/db-staging"),
        event(repository="acme/db", actor="store-service"),
    ]
    response = post(client, events)
    assert response.json()["downloads"] == 0
    assert downloads() == []
    ids = [e["id"] for e in events]
    assert RegistryEvent.objects.filter(event_id__in=ids, outcome=Outcome.IGNORED).count() == 4


def test_a_push_to_staging_queues_a_scan_and_a_push_elsewhere_does_not(
    client: Client, personas, scan_requests: ScanRequests, licences: Licences
) -> None:
    tier = make_tier(personas.acme, slug="db", state=RevisionState.DRAFT, status="draft")
    response = post(
        client,
        [
            event(action="push", repository="acme/db-staging", actor=personas.member.email),
            event(action="push", repository="acme/db", actor="store-service"),  # promotion
            event(action="push", repository="nobody/x", actor=personas.member.email),
        ],
    )
    assert response.json()["scans"] == 1
    [call] = scan_requests.calls
    assert call == {
        "reference": f"acme/db-staging@{DIGEST}",
        "tier": tier,
        "revision": tier.revision,
        "requested_by": personas.member,
        "source": "registry",
    }


def test_a_batch_is_ingested_with_a_fixed_number_of_queries(
    client: Client, personas, licences: Licences
) -> None:
    make_tier(personas.acme, slug="db", price="0")
    users = [UserFactory(email=f"u{i}@example.com") for i in range(3)]
    batch = [event(repository="acme/db", actor=users[i % 3].email) for i in range(50)]
    with CaptureQueriesContext(connection) as queries:
        assert post(client, batch).json()["downloads"] == 50
    assert len(queries) <= 8, [q["sql"] for q in queries]
    assert len(downloads()) == 50


# -- the token endpoint's hot path ---------------------------------------------------------------


def test_a_push_asking_for_several_staging_repositories_is_one_query(client: Client, personas) -> None:
    raw = registry_token(personas.member)
    auth = basic(personas.member.email, raw)
    scopes = ("repository:acme/a:pull,push", "repository:acme/b:pull,push", "repository:globex/c:pull")
    # The first request reads the token (cached since), writes last_used_at and, on PostgreSQL,
    # prepares the lookup on this connection.
    ask(client, *scopes, auth=auth)
    with CaptureQueriesContext(connection) as queries:
        granted = access_of(ask(client, *scopes, auth=auth))
    assert [a["actions"] for a in granted] == [["pull", "push"], ["pull", "push"], []]
    assert len(queries) == 1, [q["sql"] for q in queries]


def test_a_pull_of_a_live_repository_reads_tiers_in_one_query_then_billing(
    client: Client, personas, licences: Licences
) -> None:
    make_tier(personas.acme, slug="open", policy=AccessPolicy.EVERYONE, price="0")
    make_tier(personas.acme, slug="paid")
    raw = registry_token(personas.member)
    auth = basic(personas.member.email, raw)
    scopes = ("repository:acme/open:pull", "repository:acme/paid:pull,push")
    ask(client, *scopes, auth=auth)  # caches the token; prepares the lookup on this connection
    with CaptureQueriesContext(connection) as queries:
        granted = access_of(
            ask(client, "repository:acme/open:pull", "repository:acme/paid:pull,push", auth=auth)
        )
    assert [a["actions"] for a in granted] == [["pull"], []]
    tier_queries = [
        q
        for q in queries
        if "registry_lookup" in q["sql"] or ('"listings_tier"' in q["sql"] and "JOIN" in q["sql"])
    ]
    assert len(tier_queries) == 1, "one query for every repository's tier, revision and product"
    assert not [q for q in queries if "accounts_accesstoken" in q["sql"]], "the token lookup is cached"


def test_revoking_an_access_token_refuses_the_next_token_request_at_once(
    client: Client, personas, django_capture_on_commit_callbacks
) -> None:
    from accounts.models import AccessToken
    from accounts.services import access_token_revoke

    raw = registry_token(personas.member)
    auth = basic(personas.member.email, raw)
    assert ask(client, "repository:acme/a:pull", auth=auth).status_code == 200  # now cached
    with django_capture_on_commit_callbacks(execute=True):
        access_token_revoke(token=AccessToken.objects.get(user=personas.member), actor=personas.member)
    refused = ask(client, "repository:acme/a:pull", auth=auth)
    assert refused.status_code == 401
    assert "revoked" in refused.json()["errors"][0]["message"]


def test_deactivating_an_account_refuses_the_next_token_request_at_once(
    client: Client, personas, django_capture_on_commit_callbacks
) -> None:
    raw = registry_token(personas.member)
    auth = basic(personas.member.email, raw)
    assert ask(client, "repository:acme/a:pull", auth=auth).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        personas.member.is_active = False
        personas.member.save(update_fields=["is_active"])
    assert ask(client, "repository:acme/a:pull", auth=auth).status_code == 401


def test_the_api_never_uses_the_cached_lookup(client: Client, personas) -> None:
    """Bearer authentication of the API reads the database on every request (revocation is
    immediate there whatever the cache holds)."""
    from accounts.authentication import authenticate_token, token_cache_key
    from accounts.models import hash_token

    raw = registry_token(personas.member)
    authenticate_token(raw, cached=True)
    from django.core.cache import cache

    assert cache.get(token_cache_key(hash_token(raw))) is not None
    with CaptureQueriesContext(connection) as queries:
        authenticate_token(raw)
    assert any("accounts_accesstoken" in q["sql"] for q in queries)


# -- retention -----------------------------------------------------------------------------------


def test_old_registry_events_are_purged_daily(client: Client, personas, settings) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from registry import services
    from registry.tasks import purge_registry_events

    old, recent = event(repository="acme/x"), event(repository="acme/x")
    post(client, [old, recent])
    RegistryEvent.objects.filter(event_id=old["id"]).update(received_at=timezone.now() - timedelta(days=91))
    settings.REGISTRY_EVENT_RETENTION_DAYS = 90

    assert purge_registry_events.apply().get() >= 1
    kept = RegistryEvent.objects.filter(event_id__in=[old["id"], recent["id"]])
    assert list(kept.values_list("event_id", flat=True)) == [recent["id"]]
    with pytest.raises(ValueError, match="at least a day"):
        services.registry_events_purge(retention_days=0)


def test_on_redis_a_token_request_is_counted_in_one_round_trip(settings) -> None:
    from django.core.cache import caches
    from django.core.cache.backends.redis import RedisCache

    from registry import throttling

    if not isinstance(caches["default"], RedisCache):
        pytest.skip("the test settings use Redis when REDIS_URL is set")
    key = f"test-window-{uuid.uuid4().hex}"
    assert [throttling._count_redis(key) for _ in range(3)] == [1, 2, 3]
    backend = caches["default"]
    redis_key = backend.make_and_validate_key(key)
    assert 0 < backend._cache.get_client(redis_key).ttl(redis_key) <= throttling.WINDOW + 5
    assert backend.get(key) == 3, "the Django cache API reads the same counter"


def test_on_redis_the_throttle_round_trip_also_reads_the_cached_token_lookup(
    client: Client, personas
) -> None:
    """The token endpoint reads the cached access-token lookup in the throttle's pipeline: it sees
    what the Django cache API wrote, and nothing once revocation has dropped it."""
    from django.core.cache import cache, caches
    from django.core.cache.backends.redis import RedisCache

    from accounts.authentication import authenticate_token, forget_access_token, token_cache_key
    from accounts.models import hash_token
    from registry import throttling

    if not isinstance(caches["default"], RedisCache):
        pytest.skip("the test settings use Redis when REDIS_URL is set")
    raw = registry_token(personas.member)
    authenticate_token(raw, cached=True)
    key = token_cache_key(hash_token(raw))
    window = f"test-window-{uuid.uuid4().hex}"
    count, hit = throttling._count_and_get_redis(window, key) or (0, None)
    assert count == 1
    assert hit is not None and hit.pk == cache.get(key).pk
    forget_access_token(hash_token(raw))
    assert throttling._count_and_get_redis(window, key) == (2, None)

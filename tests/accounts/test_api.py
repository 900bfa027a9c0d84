"""The accounts API: /me/ and personal access tokens, with Bearer tokens or a session."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import AccessToken, hash_token
from audit.models import AuditEvent, EventType
from tests.accounts.conftest import expire

pytestmark = pytest.mark.django_db

ME = "/api/v1/me/"
TOKENS = "/api/v1/tokens/"


def bearer(api_client, raw):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return api_client


def test_me_with_a_valid_token_describes_the_user_and_their_publishers(api_client, personas, make_token):
    _, raw = make_token(personas.owner)

    response = bearer(api_client, raw).get(ME)

    assert response.status_code == 200
    owner = personas.owner
    assert response.json() == {
        "id": owner.pk,
        "email": "owner@acme.example.com",
        "full_name": "Olive Owner",
        "email_verified": True,
        "date_joined": response.json()["date_joined"],
        "publishers": [{"namespace": "acme", "role": "owner"}],
    }


def test_me_works_with_a_session_too(api_client, personas):
    api_client.force_login(personas.outsider)

    response = api_client.get(ME)

    assert response.json()["publishers"] == [{"namespace": "globex", "role": "owner"}]


def test_me_without_credentials_is_401(api_client, db):
    response = api_client.get(ME)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


@pytest.mark.parametrize(
    ("state", "code", "message"),
    [
        ("expired", "token_expired", "This access token has expired."),
        ("revoked", "token_revoked", "This access token was revoked."),
        ("unknown", "token_unknown", "Unknown access token."),
    ],
)
def test_an_unusable_token_is_401_with_the_reason(api_client, user, make_token, state, code, message):
    token, raw = make_token(user, expires_at=timezone.now() + timedelta(days=1), revoked=state == "revoked")
    if state == "expired":
        expire(token)
    if state == "unknown":
        raw = "dst_" + "x" * 43

    response = bearer(api_client, raw).get(ME)

    assert response.status_code == 401
    assert response.json() == {"error": {"code": code, "message": message}}
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_a_malformed_authorization_header_is_401(api_client, db):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer two parts")

    response = api_client.get(ME)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_malformed"


def test_a_read_token_cannot_write(api_client, user, make_token):
    """PATCH needs the write scope: 403 naming the scope, and nothing changes."""
    _, raw = make_token(user, scopes=["read"])

    response = bearer(api_client, raw).patch(ME, {"full_name": "Changed"}, format="json")

    assert response.status_code == 403
    assert response.json()["error"]["message"] == "This access token lacks the “write” scope."
    user.refresh_from_db()
    assert user.full_name == "Ada Lovelace"


def test_a_write_token_updates_the_full_name_only(api_client, user, make_token):
    _, raw = make_token(user, scopes=["read", "write"])

    response = bearer(api_client, raw).patch(
        ME, {"full_name": "Ada King", "email": "other@example.com", "email_verified": False}, format="json"
    )

    assert response.status_code == 200
    user.refresh_from_db()
    assert (user.full_name, user.email, user.email_verified) == ("Ada King", "ada@example.com", True)


def test_put_is_not_offered_on_me(api_client, user):
    api_client.force_login(user)

    assert api_client.put(ME, {"full_name": "x"}, format="json").status_code == 405


def test_using_a_token_records_when_it_was_last_used(api_client, user, make_token):
    token, raw = make_token(user)
    assert token.last_used_at is None

    bearer(api_client, raw).get(ME)

    token.refresh_from_db()
    assert token.last_used_at is not None
    assert timezone.now() - token.last_used_at < timedelta(seconds=5)


def test_create_returns_the_token_once(api_client, user, make_token):
    """201 with the raw token in ``token``; it is stored hashed and never returned again."""
    _, raw = make_token(user, name="admin", scopes=["read", "write", "registry"])

    response = bearer(api_client, raw).post(
        TOKENS, {"name": "ci", "scopes": ["registry"], "expires_at": None}, format="json"
    )

    assert response.status_code == 201
    body = response.json()
    token = AccessToken.objects.get(pk=body["id"])
    assert token.token_hash == hash_token(body["token"])
    assert body["prefix"] == body["token"][: len(token.prefix)]
    assert body["scopes"] == ["registry"]
    assert body["status"] == "active"
    listed = api_client.get(f"{TOKENS}{token.pk}/").json()
    assert "token" not in listed
    assert "token_hash" not in listed
    assert AuditEvent.objects.filter(event_type=EventType.TOKEN_CREATED, target_id=str(token.pk)).exists()


def test_create_defaults_to_the_read_scope(api_client, user):
    api_client.force_login(user)

    response = api_client.post(TOKENS, {"name": "ci"}, format="json")

    assert response.status_code == 201
    assert response.json()["scopes"] == ["read"]


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"name": "", "scopes": ["read"]}, "name", "This field may not be blank."),
        ({"name": "   ", "scopes": ["read"]}, "name", "This field may not be blank."),
        ({"scopes": ["read"]}, "name", "This field is required."),
        ({"name": "ci", "scopes": []}, "scopes", "Choose at least one scope."),
        ({"name": "ci", "scopes": ["admin"]}, "scopes", '"admin" is not a valid choice.'),
        (
            {"name": "ci", "expires_at": "2001-01-01T00:00:00Z"},
            "expires_at",
            "The expiry must be in the future.",
        ),
        ({"name": "laptop"}, "name", "You already have a token named “laptop”."),
    ],
)
def test_bad_input_is_400_with_field_errors(api_client, user, make_token, data, field, message):
    make_token(user, name="laptop")
    api_client.force_login(user)

    response = api_client.post(TOKENS, data, format="json")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert field in error["fields"]
    assert any(message in str(m) for m in error["fields"][field]), error
    assert AccessToken.objects.count() == 1


def test_a_token_cannot_grant_scopes_it_lacks(api_client, user, make_token):
    """Otherwise a leaked read/write token could mint itself a registry token that outlives it."""
    _, raw = make_token(user, name="rw", scopes=["read", "write"])

    response = bearer(api_client, raw).post(TOKENS, {"name": "ci", "scopes": ["registry"]}, format="json")

    assert response.status_code == 400
    assert "cannot grant scopes it lacks: registry" in response.json()["error"]["fields"]["scopes"][0]


def test_list_shows_only_ones_own_tokens_in_a_fixed_number_of_queries(
    api_client, user, make_token, personas, django_assert_num_queries
):
    """Session, user, count and page: four queries however many tokens there are."""
    for n in range(12):
        make_token(user, name=f"token {n}")
    make_token(personas.outsider, name="not yours")
    api_client.force_login(user)

    with django_assert_num_queries(4):
        response = api_client.get(TOKENS)

    body = response.json()
    assert body["count"] == 12
    assert {t["name"] for t in body["results"]} == {f"token {n}" for n in range(12)}


def test_list_with_a_bearer_token_stays_flat(api_client, user, make_token, django_assert_max_num_queries):
    """Token lookup (with its user), last-used write, count and page."""
    _, raw = make_token(user, name="reader")
    for n in range(10):
        make_token(user, name=f"token {n}")

    with django_assert_max_num_queries(4):
        response = bearer(api_client, raw).get(TOKENS)

    assert response.json()["count"] == 11


def test_delete_revokes_and_keeps_the_token_listed(api_client, user, make_token):
    token, _ = make_token(user, name="old")
    _, raw = make_token(user, name="admin", scopes=["read", "write"])

    response = bearer(api_client, raw).delete(f"{TOKENS}{token.pk}/")

    assert response.status_code == 204
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert api_client.get(f"{TOKENS}{token.pk}/").json()["status"] == "revoked"
    assert AuditEvent.objects.filter(event_type=EventType.TOKEN_REVOKED, target_id=str(token.pk)).exists()


def test_another_persons_token_is_404(api_client, personas, make_token):
    token, _ = make_token(personas.owner)
    api_client.force_login(personas.outsider)

    assert api_client.get(f"{TOKENS}{token.pk}/").status_code == 404
    response = api_client.delete(f"{TOKENS}{token.pk}/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    token.refresh_from_db()
    assert token.revoked_at is None


def test_the_schema_documents_the_endpoints(api_client, db):
    response = api_client.get("/api/schema/", {"format": "json"})

    assert response.status_code == 200
    schema = response.json()
    post = schema["paths"]["/api/v1/tokens/"]["post"]
    created = post["responses"]["201"]["content"]["application/json"]["schema"]["$ref"]
    assert created.endswith("/AccessTokenCreated")
    assert "patch" in schema["paths"]["/api/v1/me/"]
    assert "put" not in schema["paths"]["/api/v1/me/"]
    delete = schema["paths"]["/api/v1/tokens/{id}/"]["delete"]["responses"]
    assert {code for code in delete if code.startswith("2")} == {"204"}
    assert {"401", "403", "404"} <= delete.keys()  # the errors are documented too


def test_a_registry_only_token_can_neither_read_nor_write_the_api(api_client, user, make_token):
    """The registry scope is for docker login only; the API needs read or write (and vice versa,
    tests/registry/test_views.py refuses a read/write token at the token endpoint)."""
    _, raw = make_token(user, name="docker", scopes=["registry"])
    client = bearer(api_client, raw)

    assert client.get(ME).status_code == 403
    assert client.patch(ME, {"full_name": "Mallory"}, format="json").status_code == 403
    assert client.post(TOKENS, {"name": "more", "scopes": ["registry"]}, format="json").status_code == 403
    assert AccessToken.objects.count() == 1
    user.refresh_from_db()
    assert user.full_name != "Mallory"

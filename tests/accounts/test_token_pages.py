"""The account page: profile and personal access tokens (shown once, stored hashed, revocable)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import TOKEN_PREFIX, AccessToken, hash_token
from audit.models import AuditEvent, EventType
from tests.accounts.conftest import expire
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

CREATE = reverse("accounts:token_create")


@pytest.fixture
def logged_in(client, user):
    client.force_login(user)
    return client


def test_the_account_pages_need_a_login(client, db):
    for url in [reverse("accounts:account"), CREATE]:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("accounts:login") + "?next=")


def test_the_profile_saves_the_full_name(logged_in, user):
    response = logged_in.post(reverse("accounts:account"), {"full_name": "  Augusta Ada King  "})

    assert response.status_code == 302
    user.refresh_from_db()
    assert user.full_name == "Augusta Ada King"


def test_a_new_token_is_shown_once_and_only_its_hash_is_stored(logged_in, user):
    """The next page shows the token; reloading it never shows it again."""
    response = logged_in.post(CREATE, {"name": "CI on build-01", "scopes": ["read", "registry"]})

    token = AccessToken.objects.get(user=user)
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:token_created", args=[token.pk])
    page = logged_in.get(response["Location"])
    raw = page.context["raw"]
    assert raw.startswith(TOKEN_PREFIX)
    assert raw in page.content.decode()
    assert token.token_hash == hash_token(raw)
    assert raw not in {token.token_hash, token.prefix, token.name}
    assert raw.startswith(token.prefix)
    assert token.scopes == ["read", "registry"]
    assert token.expires_at is None

    again = logged_in.get(response["Location"])
    assert raw not in again.content.decode()
    assert b"already shown once" in again.content


def test_creating_a_token_is_audited_without_the_token(logged_in, user):
    logged_in.post(CREATE, {"name": "laptop", "scopes": ["read"]})

    event = AuditEvent.objects.get(event_type=EventType.TOKEN_CREATED)
    token = AccessToken.objects.get()
    assert event.actor_id == user.pk
    assert event.target_id == str(token.pk)
    assert event.data["prefix"] == token.prefix
    assert token.token_hash not in str(event.data)


def test_an_expiry_date_stops_the_token_at_midnight_utc(logged_in):
    day = timezone.now().date() + timedelta(days=30)

    logged_in.post(CREATE, {"name": "laptop", "scopes": ["read"], "expires_at": day.isoformat()})

    token = AccessToken.objects.get()
    assert token.expires_at.date() == day
    assert (token.expires_at.hour, token.expires_at.minute) == (0, 0)


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"name": "", "scopes": ["read"]}, "name", "This field is required."),
        ({"name": "   ", "scopes": ["read"]}, "name", "This field is required."),
        ({"name": "laptop", "scopes": []}, "scopes", "Choose at least one scope."),
        ({"name": "laptop", "scopes": ["admin"]}, "scopes", "Select a valid choice."),
        ({"name": "laptop", "scopes": ["read"], "expires_at": "2001-01-01"}, "expires_at", "in the future"),
        ({"name": "laptop", "scopes": ["read"], "expires_at": "today"}, "expires_at", "Enter a valid date."),
    ],
)
def test_bad_input_is_marked_next_to_its_field_and_kept(logged_in, data, field, message):
    response = logged_in.post(CREATE, data)

    assert response.status_code == 200
    assert any(message in error for error in response.context["form"].errors[field])
    assert not AccessToken.objects.exists()
    if data["name"].strip():
        assert f'value="{data["name"]}"' in response.content.decode()


def test_today_is_not_a_future_expiry_date(logged_in):
    today = date.today().isoformat()

    response = logged_in.post(CREATE, {"name": "laptop", "scopes": ["read"], "expires_at": today})

    assert "Choose a date in the future" in str(response.context["form"].errors["expires_at"])


def test_a_name_in_use_by_a_token_not_revoked_is_refused(logged_in, user, make_token):
    make_token(user, name="laptop")

    response = logged_in.post(CREATE, {"name": "laptop", "scopes": ["read"]})

    assert "You already have a token named “laptop”" in str(response.context["form"].errors["name"])
    assert AccessToken.objects.count() == 1


def test_a_revoked_token_frees_its_name(logged_in, user, make_token):
    make_token(user, name="laptop", revoked=True)

    response = logged_in.post(CREATE, {"name": "laptop", "scopes": ["read"]})

    assert response.status_code == 302
    assert AccessToken.objects.filter(name="laptop").count() == 2


def test_the_list_shows_each_tokens_details_and_status(logged_in, user, make_token):
    active, _ = make_token(user, name="active one", scopes=["read", "write"])
    expired, _ = make_token(user, name="old one", expires_at=timezone.now() + timedelta(days=1))
    expire(expired)
    make_token(user, name="gone", revoked=True)
    make_token(UserFactory(), name="somebody else's")

    response = logged_in.get(reverse("accounts:account"))

    content = response.content.decode()
    assert [t.name for t in response.context["tokens"]] == ["gone", "old one", "active one"]
    assert f"{active.prefix}…" in content
    assert "read, write" in content
    for label in ["Active", "Expired", "Revoked"]:
        assert f"<td>{label}" in content
    assert "somebody else" not in content
    assert active.token_hash not in content


def test_revoking_by_post_stops_the_token_and_is_audited(logged_in, user, make_token):
    token, _ = make_token(user)

    response = logged_in.post(reverse("accounts:token_revoke", args=[token.pk]))

    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    event = AuditEvent.objects.get(event_type=EventType.TOKEN_REVOKED)
    assert (event.actor_id, event.target_id) == (user.pk, str(token.pk))


def test_revoking_twice_changes_nothing(logged_in, user, make_token):
    token, _ = make_token(user, revoked=True)
    revoked_at = AccessToken.objects.get().revoked_at

    logged_in.post(reverse("accounts:token_revoke", args=[token.pk]))

    assert AccessToken.objects.get().revoked_at == revoked_at
    assert AuditEvent.objects.filter(event_type=EventType.TOKEN_REVOKED).count() == 1


def test_revoking_needs_post(logged_in, user, make_token):
    token, _ = make_token(user)

    assert logged_in.get(reverse("accounts:token_revoke", args=[token.pk])).status_code == 405
    token.refresh_from_db()
    assert token.revoked_at is None


def test_another_persons_token_answers_404(logged_in, make_token, personas):
    """Token ids of other people cannot be revoked nor probed."""
    token, _ = make_token(personas.outsider)

    assert logged_in.post(reverse("accounts:token_revoke", args=[token.pk])).status_code == 404
    assert logged_in.get(reverse("accounts:token_created", args=[token.pk])).status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None

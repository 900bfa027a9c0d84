"""The admin: users by email (no usernames), access tokens read-only and never their hash."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import AccessToken, User
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    admin = User.objects.create_superuser(email="root@example.com", password="x")
    client.force_login(admin)
    return client


def test_the_user_list_shows_staff_verified_and_joined_and_searches_by_email(admin_client):
    UserFactory(email="ada@example.com", email_verified_at=None)
    UserFactory(email="grace@example.com")

    response = admin_client.get(reverse("admin:accounts_user_changelist"), {"q": "ada@"})

    assert response.status_code == 200
    content = response.content.decode()
    assert "ada@example.com" in content
    assert "grace@example.com" not in content
    for column in ["column-is_staff", "column-verified", "column-date_joined"]:
        assert column in content


def test_the_verified_filter(admin_client):
    UserFactory(email="ada@example.com", email_verified_at=None)

    response = admin_client.get(reverse("admin:accounts_user_changelist"), {"verified": "no"})

    assert list(response.context["cl"].result_list) == [User.objects.get(email="ada@example.com")]


def test_adding_a_user_asks_for_an_email_not_a_username(admin_client):
    url = reverse("admin:accounts_user_add")
    assert "username" not in admin_client.get(url).content.decode()

    response = admin_client.post(
        url,
        {
            "email": "new@example.com",
            "full_name": "New Person",
            "usable_password": "true",
            "password1": "a long enough passphrase",
            "password2": "a long enough passphrase",
        },
    )

    assert response.status_code == 302
    assert User.objects.get(email="new@example.com").check_password("a long enough passphrase")


def test_the_user_change_page_renders(admin_client, user):
    response = admin_client.get(reverse("admin:accounts_user_change", args=[user.pk]))

    assert response.status_code == 200
    assert "ada@example.com" in response.content.decode()


def test_tokens_are_read_only_and_never_show_the_hash(admin_client, user, make_token):
    token, raw = make_token(user)

    listing = admin_client.get(reverse("admin:accounts_accesstoken_changelist")).content.decode()
    detail = admin_client.get(reverse("admin:accounts_accesstoken_change", args=[token.pk])).content.decode()

    for content in [listing, detail]:
        assert token.prefix in content
        assert token.token_hash not in content
        assert raw not in content
    assert admin_client.get(reverse("admin:accounts_accesstoken_add")).status_code == 403
    assert admin_client.post(reverse("admin:accounts_accesstoken_delete", args=[token.pk])).status_code == 403


def test_a_superuser_can_revoke_tokens_from_the_list(admin_client, user, make_token):
    token, _ = make_token(user)

    admin_client.post(
        reverse("admin:accounts_accesstoken_changelist"),
        {"action": "revoke", "_selected_action": [token.pk]},
    )

    token.refresh_from_db()
    assert token.revoked_at is not None
    assert AccessToken.objects.usable().count() == 0

"""The admin: moderators read publishers, members and invitations; nobody adds invitations there."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from publishers import services
from publishers.models import Role
from store.roles import MODERATORS_GROUP, sync_moderators_group
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def moderator() -> Client:
    sync_moderators_group()
    user = UserFactory(email="mod@store.example.com", is_staff=True)
    user.groups.add(Group.objects.get(name=MODERATORS_GROUP))
    client = Client()
    client.force_login(user)
    return client


def test_moderators_can_search_publishers_and_see_the_logo(personas, moderator):
    response = moderator.get(reverse("admin:publishers_publisher_changelist"), {"q": "Acme Containers"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "acme" in html
    assert "globex" not in html
    assert personas.acme.logo.url in html


def test_moderators_see_the_profile_read_only_with_members(personas, moderator):
    response = moderator.get(reverse("admin:publishers_publisher_change", args=[personas.acme.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'width="160"' in html  # the logo preview
    assert "editor@acme.example.com" in html
    assert 'name="legal_name"' not in html  # view permission only: no inputs
    assert (
        moderator.post(
            reverse("admin:publishers_publisher_change", args=[personas.acme.pk]), {"legal_name": "X"}
        ).status_code
        == 403
    )


def test_moderators_can_list_invitations_but_nobody_adds_them(personas, moderator, admin_client):
    services.member_invite(
        publisher=personas.acme, actor=personas.owner, email="x@example.com", role=Role.VIEWER
    )
    response = moderator.get(reverse("admin:publishers_invitation_changelist"))
    assert response.status_code == 200
    assert "x@example.com" in response.content.decode()
    assert "pending" in response.content.decode()
    assert admin_client.get(reverse("admin:publishers_invitation_add")).status_code == 403


def test_superusers_can_open_every_publisher_admin_page(personas, admin_client):
    for name, args in (
        ("admin:publishers_publisher_changelist", []),
        ("admin:publishers_publisher_change", [personas.acme.pk]),
        ("admin:publishers_publisher_add", []),
        ("admin:publishers_invitation_changelist", []),
    ):
        assert admin_client.get(reverse(name, args=args)).status_code == 200, name

"""The admin: moderators read publishers, members and invitations; nobody adds invitations there;
what superusers change is audited."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from audit.models import AuditEvent, EventType
from publishers import services
from publishers.models import Publisher, Role
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


# --- superusers' changes are audited like the publisher's own ------------------------------------


def _change_form(publisher: Publisher, **changes: object) -> dict[str, object]:
    """The publisher's admin change form as submitted unchanged, with ``changes`` applied."""
    memberships = list(publisher.memberships.order_by("pk"))
    data: dict[str, object] = {
        field: getattr(publisher, field)
        for field in (
            "legal_name",
            "website",
            "phone",
            "company_email",
            "story",
            "support_website",
            "support_email",
            "self_help_links",
            "support_hours",
            "response_times",
            "onboarding_step",
        )
    }
    data.update(
        {
            "memberships-TOTAL_FORMS": len(memberships),
            "memberships-INITIAL_FORMS": len(memberships),
            "memberships-MIN_NUM_FORMS": 0,
            "memberships-MAX_NUM_FORMS": 1000,
        }
    )
    for index, membership in enumerate(memberships):
        data[f"memberships-{index}-id"] = membership.pk
        data[f"memberships-{index}-publisher"] = publisher.pk
        data[f"memberships-{index}-role"] = membership.role
    data.update(changes)
    return data


def _row(publisher: Publisher, user) -> int:
    return list(publisher.memberships.order_by("pk").values_list("user", flat=True)).index(user.pk)


def _change(admin_client, publisher: Publisher, data: dict[str, object]):
    return admin_client.post(reverse("admin:publishers_publisher_change", args=[publisher.pk]), data)


def test_a_profile_change_in_the_admin_is_audited(personas, admin_client):
    response = _change(admin_client, personas.acme, _change_form(personas.acme, support_hours="24x7"))
    assert response.status_code == 302
    event = AuditEvent.objects.get(event_type=EventType.PUBLISHER_PROFILE_CHANGED)
    assert (event.publisher_id, event.actor_email) == (personas.acme.pk, "admin@example.com")
    assert event.data == {"fields": ["support_hours"], "via": "admin"}


def test_role_changes_and_removals_in_the_admin_are_audited(personas, admin_client):
    acme = personas.acme
    data = _change_form(acme)
    data[f"memberships-{_row(acme, personas.member)}-role"] = Role.ADMIN
    data[f"memberships-{_row(acme, personas.viewer)}-DELETE"] = "on"

    assert _change(admin_client, acme, data).status_code == 302

    assert acme.memberships.get(user=personas.member).role == Role.ADMIN
    assert not acme.memberships.filter(user=personas.viewer).exists()
    changed = AuditEvent.objects.get(event_type=EventType.MEMBER_ROLE_CHANGED)
    assert changed.data == {"email": personas.member.email, "from": "editor", "to": "admin", "via": "admin"}
    removed = AuditEvent.objects.get(event_type=EventType.MEMBER_REMOVED)
    assert removed.data == {"email": personas.viewer.email, "role": "viewer", "via": "admin"}
    assert not AuditEvent.objects.filter(event_type=EventType.PUBLISHER_PROFILE_CHANGED).exists()


def test_the_admin_keeps_the_last_owner_and_changes_nothing(personas, admin_client):
    acme = personas.acme
    data = _change_form(acme, legal_name="Renamed")
    data[f"memberships-{_row(acme, personas.owner)}-role"] = Role.VIEWER

    response = _change(admin_client, acme, data)

    assert response.status_code == 200
    assert "A publisher keeps at least one owner" in response.content.decode()
    acme.refresh_from_db()
    assert acme.legal_name == "Acme Containers Ltd"
    assert acme.memberships.get(user=personas.owner).role == Role.OWNER
    assert not AuditEvent.objects.exists()


def test_publishers_and_invitations_cannot_be_deleted_in_the_admin(personas, admin_client):
    """Deleting would erase what the audit trail, listings and licences refer to."""
    invitation, _ = services.member_invite(
        publisher=personas.acme, actor=personas.owner, email="x@example.com", role=Role.VIEWER
    )
    assert (
        admin_client.get(reverse("admin:publishers_publisher_delete", args=[personas.acme.pk])).status_code
        == 403
    )
    assert (
        admin_client.get(reverse("admin:publishers_invitation_delete", args=[invitation.pk])).status_code
        == 403
    )

"""The Moderators group is kept, by migrate, at exactly the permissions store.roles lists."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission

from store.roles import MODERATOR_PERMISSIONS, MODERATORS_GROUP, sync_moderators_group

pytestmark = pytest.mark.django_db


def _group_permissions() -> set[str]:
    group = Group.objects.get(name=MODERATORS_GROUP)
    return {
        f"{app_label}.{codename}"
        for app_label, codename in group.permissions.values_list("content_type__app_label", "codename")
    }


def test_moderators_group_exists_after_migrate_with_exactly_the_listed_permissions() -> None:
    """Also catches a typo in the list: a permission that does not exist is never granted."""
    assert _group_permissions() == set(MODERATOR_PERMISSIONS)


def test_moderators_cannot_change_or_delete_audit_events() -> None:
    """The log is append-only; moderators read it."""
    sync_moderators_group()
    granted = _group_permissions()
    assert "audit.view_auditevent" in granted
    assert not {"audit.add_auditevent", "audit.change_auditevent", "audit.delete_auditevent"} & granted


def test_sync_removes_permissions_granted_by_hand() -> None:
    sync_moderators_group()
    group = Group.objects.get(name=MODERATORS_GROUP)
    group.permissions.add(Permission.objects.get(content_type__app_label="accounts", codename="delete_user"))

    sync_moderators_group()

    assert _group_permissions() == set(MODERATOR_PERMISSIONS)


def test_sync_recreates_a_deleted_group() -> None:
    sync_moderators_group()
    Group.objects.filter(name=MODERATORS_GROUP).delete()

    sync_moderators_group()

    assert _group_permissions() == set(MODERATOR_PERMISSIONS)

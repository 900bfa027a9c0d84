"""The Moderators group holds exactly the permissions the store's moderators need.

Each app adds what its moderation needs to ``MODERATOR_PERMISSIONS``; after every migrate the group
is set to exactly that list, so a permission removed here is removed from the group too.
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_migrate
from django.dispatch import receiver

MODERATORS_GROUP = "Moderators"

# "app_label.codename"
MODERATOR_PERMISSIONS: list[str] = [
    "accounts.view_user",
    "publishers.view_publisher",
    "publishers.view_membership",
    "publishers.view_invitation",
    "audit.view_auditevent",
    "listings.view_category",
    "listings.view_product",
    "listings.view_revision",
    "listings.view_tier",
    "listings.view_screenshot",
    "listings.view_reviewcomment",
    "listings.moderate_revision",
    "scanning.view_scan",
    "scanning.view_finding",
    "scanning.view_advisory",
    "scanning.view_severityoverride",
    "billing.view_licence",
    "billing.grant_licence",
    "billing.view_ledgerentry",
    "billing.refund_payment",
    "billing.view_stripeevent",
    "billing.view_payoutaccount",
]


def sync_group(name: str, permissions: list[str]) -> None:
    """Set group ``name`` to exactly ``permissions`` ("app_label.codename"); unknown ones are skipped."""
    from django.contrib.auth.models import Group, Permission

    group, _ = Group.objects.get_or_create(name=name)
    wanted = []
    for dotted in permissions:
        app_label, codename = dotted.split(".", 1)
        permission = Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()
        if permission is not None:
            wanted.append(permission)
    group.permissions.set(wanted)


def sync_moderators_group() -> None:
    sync_group(MODERATORS_GROUP, MODERATOR_PERMISSIONS)


@receiver(post_migrate)
def _sync_after_migrate(sender: Any, **kwargs: Any) -> None:
    from django.apps import apps

    # Permissions are created per app as each one finishes migrating; sync after the last one
    # that has models (post_migrate is only sent for those).
    if sender is [config for config in apps.get_app_configs() if config.models_module is not None][-1]:
        sync_moderators_group()

"""The Security team group: staff who import vulnerability data and override severities.

Like the Moderators group (``store/roles.py``) it is set to exactly ``SECURITY_TEAM_PERMISSIONS``
after every migrate, so a permission removed here is removed from the group too.
"""

from __future__ import annotations

from typing import Any

SECURITY_TEAM_GROUP = "Security team"

# "app_label.codename"
SECURITY_TEAM_PERMISSIONS: list[str] = [
    "scanning.security_team",
    "scanning.view_severityoverride",
    "scanning.add_severityoverride",
    "scanning.change_severityoverride",
    "scanning.delete_severityoverride",
    "scanning.view_advisory",
    "scanning.view_scan",
    "scanning.view_finding",
]


def sync_security_team_group() -> None:
    from store.roles import sync_group

    sync_group(SECURITY_TEAM_GROUP, SECURITY_TEAM_PERMISSIONS)


def sync_after_migrate(sender: Any, **kwargs: Any) -> None:
    """Connected for the scanning app only: its permissions exist once its post_migrate runs."""
    sync_security_team_group()

"""Reads of publisher data. Every publisher-scoped lookup goes through ``get_publisher_for_member``."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from publishers.models import Membership, Publisher, Role


def get_publisher_for_member(user: Any, namespace: str, *, min_role: Role = Role.VIEWER) -> Publisher:
    """The publisher ``namespace`` as seen by ``user``, with ``.membership`` set.

    Anyone who is not a member (anonymous users included) gets Http404, exactly as if the
    publisher did not exist, so namespaces of other tenants cannot be probed. A member whose role
    is below ``min_role`` gets PermissionDenied (403): they know the publisher exists.
    """
    if user is None or not user.is_authenticated:
        raise Http404("No such publisher.")
    membership = (
        Membership.objects.select_related("publisher")
        .filter(user=user, publisher__namespace=namespace)
        .first()
    )
    if membership is None:
        raise Http404("No such publisher.")
    if not membership.role_enum.at_least(min_role):
        raise PermissionDenied(f"This needs the {min_role.label.lower()} role or higher.")
    publisher = membership.publisher
    publisher.membership = membership  # type: ignore[attr-defined]
    return publisher


def publishers_for_user(user: Any) -> QuerySet[Publisher]:
    if not user.is_authenticated:
        return Publisher.objects.none()
    return Publisher.objects.filter(memberships__user=user).order_by("namespace")

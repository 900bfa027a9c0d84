"""Reads of publisher data. Every publisher-scoped lookup goes through ``get_publisher_for_member``."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from publishers.models import Invitation, Membership, Publisher, Role, hash_invitation_token


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


def publishers_in_onboarding(user: Any) -> QuerySet[Publisher]:
    """Publishers this person owns whose onboarding they have not finished yet."""
    if not user.is_authenticated:
        return Publisher.objects.none()
    return Publisher.objects.filter(
        memberships__user=user, memberships__role=Role.OWNER, onboarding_completed_at__isnull=True
    ).order_by("namespace")


def memberships_of(publisher: Publisher) -> QuerySet[Membership]:
    return publisher.memberships.select_related("user").order_by("user__email")


def pending_invitations_of(publisher: Publisher) -> QuerySet[Invitation]:
    return publisher.invitations.pending().select_related("invited_by").order_by("email")


def get_membership(publisher: Publisher, membership_id: int) -> Membership:
    """A membership of ``publisher`` (already scoped to the person asking); 404 otherwise."""
    membership = memberships_of(publisher).filter(pk=membership_id).first()
    if membership is None:
        raise Http404("No such member.")
    return membership


def get_pending_invitation(publisher: Publisher, invitation_id: int) -> Invitation:
    """A pending invitation of ``publisher``; 404 for others (used, revoked, or another tenant's)."""
    invitation = pending_invitations_of(publisher).filter(pk=invitation_id).first()
    if invitation is None:
        raise Http404("No such pending invitation.")
    return invitation


def invitation_by_token(token: str) -> Invitation | None:
    return (
        Invitation.objects.select_related("publisher", "accepted_by")
        .filter(token_hash=hash_invitation_token(token))
        .first()
    )


def invitation_conflict(publisher: Publisher, email: str) -> str | None:
    """Why ``email`` cannot be invited to ``publisher`` right now, or None."""
    email = email.strip().lower()
    if publisher.memberships.filter(user__email__iexact=email).exists():
        return f"{email} is already a member of {publisher.namespace}."
    if publisher.invitations.pending().filter(email__iexact=email).exists():
        return f"{email} already has a pending invitation; revoke it first to send a new one."
    return None

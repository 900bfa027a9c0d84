"""Reads of account data. A token is only ever looked up through its owner."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet, prefetch_related_objects
from django.http import Http404

from accounts.models import AccessToken, User
from publishers.models import Membership


def access_tokens_for_user(*, user: User) -> QuerySet[AccessToken]:
    """All of ``user``'s tokens, newest first, revoked ones included (the list shows their status)."""
    return AccessToken.objects.filter(user=user).order_by("-created_at", "-id")


def get_access_token_for_user(*, user: User, token_id: int) -> AccessToken:
    """``user``'s token ``token_id``; another person's token answers 404 as if it did not exist."""
    token = access_tokens_for_user(user=user).select_related("user").filter(pk=token_id).first()
    if token is None:
        raise Http404("No such access token.")
    return token


def user_with_memberships(*, user: User) -> User:
    """``user`` with ``memberships`` (and each one's publisher) loaded in one query."""
    prefetch_related_objects(
        [user],
        Prefetch(
            "memberships",
            queryset=Membership.objects.select_related("publisher").order_by("publisher__namespace"),
        ),
    )
    return user

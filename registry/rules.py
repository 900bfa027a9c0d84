"""Who may do what in the registry: the one place that answers it.

Repositories come in two kinds, both under a publisher's namespace:

- **customer-facing**: some tier's ``repository`` (e.g. ``acme/db-enterprise``). Customers pull
  according to ``billing.selectors.may_pull`` (access policy, licences, on hold, revoked). Nobody
  pushes there but the store's own service identity, which copies approved images in.
- **staging**: any other repository under a publisher's namespace. Editors and above push and pull,
  viewers pull, everyone else gets nothing.

Moderators (``is_staff``) also pull what is under review (the staging sources and repositories of
revisions in review). ``registry:catalog:*`` is for the service identity only.

The grant is what was asked intersected with what is allowed; asking for more is not an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.contrib.auth.models import AnonymousUser

from listings.models import RevisionState, Tier
from publishers.models import Membership, Role
from registry.tokens import Access

if TYPE_CHECKING:
    from accounts.models import User

PULL = "pull"
PUSH = "push"
ALL = "*"
# Room for a real client's scopes (one per repository involved) with a cap against abuse.
MAX_SCOPES = 32
_ACTION_RE = re.compile(r"^(\*|[a-z]+)$")
_TYPE_RE = re.compile(r"^[a-z]+(\([a-z0-9]+\))?$")
_NAME_RE = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")


class ScopeError(ValueError):
    """A scope parameter that is not ``type:name:actions``; the message says which."""


@dataclass(frozen=True)
class Identity:
    """Who asks: a user, anonymous (``user`` None), or the store's own service identity."""

    user: User | None = None
    is_service: bool = False
    service_name: str = ""

    @property
    def subject(self) -> str:
        if self.is_service:
            return self.service_name
        return self.user.email if self.user is not None else ""


def parse_scopes(values: list[str]) -> list[Access]:
    """``scope`` parameters, each holding one or more space-separated entries, merged by resource."""
    merged: dict[tuple[str, str], list[str]] = {}
    for value in values:
        for entry in value.split():
            kind, sep, rest = entry.partition(":")
            name, sep2, actions = rest.rpartition(":")
            if not sep or not sep2 or not name or not _TYPE_RE.match(kind):
                raise ScopeError(f"“{entry}” is not a scope: write it as type:name:actions.")
            if kind.startswith("repository") and not _NAME_RE.match(name):
                raise ScopeError(f"“{name}” is not a valid repository name.")
            wanted = merged.setdefault((kind, name), [])
            for action in actions.split(","):
                if not _ACTION_RE.match(action):
                    raise ScopeError(f"“{action}” in “{entry}” is not an action.")
                if action not in wanted:
                    wanted.append(action)
    if len(merged) > MAX_SCOPES:
        raise ScopeError(f"At most {MAX_SCOPES} scopes per token request.")
    return [Access(type=kind, name=name, actions=tuple(acts)) for (kind, name), acts in merged.items()]


def _intersect(asked: tuple[str, ...], allowed: set[str]) -> tuple[str, ...]:
    if ALL in allowed:
        return asked
    if ALL in asked:
        return tuple(sorted(allowed))
    return tuple(action for action in asked if action in allowed)


def _under_review(name: str) -> bool:
    """A tier of a revision in review names ``name`` as its staging source or its repository."""
    reviewed = Tier.objects.filter(revision__state=RevisionState.IN_REVIEW)
    return (
        reviewed.filter(repository=name).exists()
        or reviewed.filter(staging_source__startswith=f"{name}:").exists()
    )


def _may_pull(user: User | None, tier: Tier) -> bool:
    # Imported here: billing owns licences and imports listings, which must not import back.
    from billing.selectors import may_pull

    return bool(may_pull(user=user if user is not None else AnonymousUser(), tier=tier))


def repository_actions(identity: Identity, name: str) -> set[str]:
    """The actions ``identity`` may take on repository ``name``."""
    tiers = list(
        Tier.objects.filter(repository=name).select_related("revision__product").order_by("-revision__number")
    )
    user = identity.user
    if tiers:  # customer-facing: nobody pushes except the store copying approved images in
        if identity.is_service:
            return {PULL, PUSH}
        live = next((t for t in tiers if t.revision.product.live_revision_id == t.revision_id), None)
        if live is not None and _may_pull(user, live):
            return {PULL}
        if (
            user is not None
            and user.is_staff
            and any(t.revision.state == RevisionState.IN_REVIEW for t in tiers)
        ):
            return {PULL}
        return set()
    if identity.is_service:
        return {PULL}  # staging: read for scanning and promotion
    if user is None or "/" not in name:
        return set()
    namespace = name.split("/", 1)[0]
    role = (
        Membership.objects.filter(user=user, publisher__namespace=namespace)
        .values_list("role", flat=True)
        .first()
    )
    if role is not None and Role(role).at_least(Role.EDITOR):
        return {PULL, PUSH}
    if role is not None:
        return {PULL}
    if user.is_staff and _under_review(name):
        return {PULL}
    return set()


def allowed_actions(identity: Identity, kind: str, name: str) -> set[str]:
    if kind.startswith("repository"):
        return repository_actions(identity, name)
    if kind == "registry" and name == "catalog" and identity.is_service:
        return {ALL}
    return set()


def grant(identity: Identity, requested: list[Access]) -> list[Access]:
    """Each requested resource with the asked actions it is allowed; possibly none (not an error)."""
    return [
        Access(
            type=entry.type,
            name=entry.name,
            actions=_intersect(entry.actions, allowed_actions(identity, entry.type, entry.name)),
        )
        for entry in requested
    ]

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
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from django.contrib.auth.models import AnonymousUser
from django.db import InterfaceError, OperationalError, connection

from listings.models import Product, Revision, RevisionState, Tier
from publishers.models import Membership, Publisher, Role
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
    return repositories_actions(identity, [name])[name]


# The fields of a customer-facing repository's tier that the rules and ``may_pull`` read.
_TIER_FIELDS = {"id", "revision_id", "key", "price", "repository"}
_REVISION_FIELDS = {"id", "product_id", "number", "state", "access_policy"}
_PRODUCT_FIELDS = {"id", "publisher_id", "status", "live_revision_id"}


def _fields(meta: Any, wanted: set[str]) -> list[Any]:
    """``wanted`` in the model's field order, as ``Model.from_db`` expects them."""
    return [f for f in meta.concrete_fields if f.attname in wanted]


def _loaded(fields: list[Any], values: list[Any]) -> tuple[list[str], list[Any]]:
    """Field names and values for ``Model.from_db``, converted as the ORM would."""
    converted = [f.to_python(v) if v is not None else None for f, v in zip(fields, values, strict=True)]
    return [f.attname for f in fields], converted


@lru_cache(maxsize=64)
def _lookup_sql(names: int, namespaces: int) -> str:
    """The lookup for ``names`` repositories and, if ``namespaces``, the asker's roles in them:
    %s placeholders for the names, then the user's id and the namespaces."""
    tier_meta, revision_meta, product_meta = Tier._meta, Revision._meta, Product._meta
    membership_meta, publisher_meta = Membership._meta, Publisher._meta
    quote = connection.ops.quote_name

    def col(meta: Any, name: str) -> str:
        return quote(meta.get_field(name).column)

    selected = (
        [f"t.{quote(f.column)}" for f in _fields(tier_meta, _TIER_FIELDS)]
        + [f"r.{quote(f.column)}" for f in _fields(revision_meta, _REVISION_FIELDS)]
        + [f"p.{quote(f.column)}" for f in _fields(product_meta, _PRODUCT_FIELDS)]
    )
    sql = (
        f"SELECT NULL, NULL, {', '.join(selected)} FROM {quote(tier_meta.db_table)} t "  # noqa: S608
        f"JOIN {quote(revision_meta.db_table)} r ON r.{col(revision_meta, 'id')} = t.{col(tier_meta, 'revision')} "
        f"JOIN {quote(product_meta.db_table)} p ON p.{col(product_meta, 'id')} = r.{col(revision_meta, 'product')} "
        f"WHERE t.{col(tier_meta, 'repository')} IN ({', '.join(['%s'] * names)})"
    )
    if namespaces:
        sql += (
            f" UNION ALL SELECT s.{col(publisher_meta, 'namespace')}, m.{col(membership_meta, 'role')}, "  # noqa: S608
            f"{', '.join(['NULL'] * len(selected))} "
            f"FROM {quote(membership_meta.db_table)} m JOIN {quote(publisher_meta.db_table)} s "
            f"ON s.{col(publisher_meta, 'id')} = m.{col(membership_meta, 'publisher')} "
            f"WHERE m.{col(membership_meta, 'user')} = %s "
            f"AND s.{col(publisher_meta, 'namespace')} IN ({', '.join(['%s'] * namespaces)})"
        )
    return sql


# Raw PostgreSQL connections -> names of the lookups prepared on them. Planning the three-table
# join costs more than running it, and every `docker pull` asks, so on PostgreSQL the lookup is a
# prepared statement, planned once per connection (persistent: CONN_MAX_AGE). A new connection
# (another key here) prepares again. Not for a transaction-mode pooler (pgbouncer) in front.
_prepared: WeakKeyDictionary[Any, set[str]] = WeakKeyDictionary()


def _run(sql: str, params: list[Any], *, variant: str) -> list[tuple[Any, ...]]:
    """The lookup's rows. With CONN_HEALTH_CHECKS, Django would first send ``SELECT 1`` on a
    reused connection (a round trip as long as the lookup itself); here the lookup is the probe:
    if it fails because the connection died, the connection is closed and the lookup (a read)
    runs again on a new one, as the health check would have arranged."""
    wrapper: Any = connection  # the stubs lack the health-check attributes (Django 4.1+)
    probe = (
        wrapper.health_check_enabled
        and not wrapper.health_check_done
        and wrapper.connection is not None
        and not wrapper.in_atomic_block
    )
    if not probe:
        return _execute(sql, params, variant=variant)
    wrapper.health_check_done = True
    try:
        return _execute(sql, params, variant=variant)
    except (OperationalError, InterfaceError):
        if connection.is_usable():
            raise
        connection.close()
    return _execute(sql, params, variant=variant)


def _execute(sql: str, params: list[Any], *, variant: str) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            cursor.execute(sql, params)
            return list(cursor.fetchall())
        raw = connection.connection
        done = _prepared.setdefault(raw, set())
        name = f"registry_lookup_{variant}"
        if name not in done:
            numbered = iter(range(1, len(params) + 1))
            cursor.execute(f"PREPARE {name} AS {re.sub('%s', lambda _: f'${next(numbered)}', sql)}")
            done.add(name)
        cursor.execute(f"EXECUTE {name} ({', '.join(['%s'] * len(params))})", params)
        return list(cursor.fetchall())


def _lookup(identity: Identity, names: list[str]) -> tuple[dict[str, list[Tier]], dict[str, str]]:
    """In one round trip: the tiers (with revision and product) of the customer-facing repositories
    among ``names``, and the asker's role in each namespace of ``names``.

    The token endpoint's hot path (``docker pull`` asks once per repository), hence one plain SQL
    query (prepared on PostgreSQL); the rows become model instances with only these columns loaded
    (``Model.from_db``), so reading any other field still works, with a query of its own.
    """
    user = identity.user
    namespaces = sorted({n.split("/", 1)[0] for n in names if "/" in n})
    if user is None or identity.is_service:
        namespaces = []
    params: list[Any] = list(names)
    if namespaces:
        params += [user.pk if user is not None else None, *namespaces]
    rows = _run(_lookup_sql(len(names), len(namespaces)), params, variant=f"{len(names)}_{len(namespaces)}")
    tier_fields = _fields(Tier._meta, _TIER_FIELDS)
    revision_fields = _fields(Revision._meta, _REVISION_FIELDS)
    product_fields = _fields(Product._meta, _PRODUCT_FIELDS)
    db = connection.alias
    tiers: dict[str, list[Tier]] = {}
    roles: dict[str, str] = {}
    for namespace, role, *values in rows:
        if role is not None:
            roles[namespace] = role
            continue
        tier_values, values = values[: len(tier_fields)], values[len(tier_fields) :]
        revision_values, product_values = values[: len(revision_fields)], values[len(revision_fields) :]
        tier = Tier.from_db(db, *_loaded(tier_fields, tier_values))
        revision = Revision.from_db(db, *_loaded(revision_fields, revision_values))
        revision.product = Product.from_db(db, *_loaded(product_fields, product_values))
        tier.revision = revision
        tiers.setdefault(tier.repository, []).append(tier)
    for found in tiers.values():
        found.sort(key=lambda t: (-t.revision.number, -t.pk))
    return tiers, roles


def repositories_actions(identity: Identity, names: list[str]) -> dict[str, set[str]]:
    """The actions ``identity`` may take on each repository of ``names``, in one query whatever
    their number (a ``docker push`` asks for several in one token request), plus what billing's
    ``may_pull`` reads for customer-facing ones (the product, the licence)."""
    wanted = list(dict.fromkeys(names))
    if not wanted:
        return {}
    tiers, roles = _lookup(identity, wanted)
    return {
        name: (
            _customer_facing_actions(identity, tiers[name])
            if name in tiers
            else _staging_actions(identity, name, roles)
        )
        for name in wanted
    }


def _customer_facing_actions(identity: Identity, tiers: list[Tier]) -> set[str]:
    """Nobody pushes to a customer-facing repository except the store copying approved images in."""
    if identity.is_service:
        return {PULL, PUSH}
    user = identity.user
    live = next((t for t in tiers if t.revision.product.live_revision_id == t.revision_id), None)
    if live is not None and _may_pull(user, live):
        return {PULL}
    if user is not None and user.is_staff and any(t.revision.state == RevisionState.IN_REVIEW for t in tiers):
        return {PULL}
    return set()


def _staging_actions(identity: Identity, name: str, roles: dict[str, str]) -> set[str]:
    if identity.is_service:
        return {PULL}  # staging: read for scanning and promotion
    user = identity.user
    if user is None or "/" not in name:
        return set()
    role = roles.get(name.split("/", 1)[0])
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
    repositories = repositories_actions(
        identity, [entry.name for entry in requested if entry.type.startswith("repository")]
    )
    return [
        Access(
            type=entry.type,
            name=entry.name,
            actions=_intersect(
                entry.actions,
                repositories[entry.name]
                if entry.type.startswith("repository")
                else allowed_actions(identity, entry.type, entry.name),
            ),
        )
        for entry in requested
    ]

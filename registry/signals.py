"""Keep the token endpoint's cached access-token lookups honest.

``/registry/token`` reads access tokens through ``authenticate_token(cached=True)``. Revoking a
token (``accounts.services.access_token_revoke``, audited as TOKEN_REVOKED in the same
transaction) and deactivating an account drop the cached entries once the change commits, so the
next token request reads the database and is refused. Only registry tokens already issued (five
minutes at most) outlive a revocation, as the registry never asks again.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from accounts.authentication import forget_access_token
from accounts.models import AccessToken, User
from audit.models import AuditEvent, EventType


def forget_revoked_token(
    sender: type[AuditEvent], instance: AuditEvent, created: bool, **kwargs: Any
) -> None:
    if not created or instance.event_type != EventType.TOKEN_REVOKED:
        return
    if instance.target_type != AccessToken._meta.label_lower or not instance.target_id.isdigit():
        return
    hashes = list(AccessToken.objects.filter(pk=int(instance.target_id)).values_list("token_hash", flat=True))
    transaction.on_commit(lambda: forget_access_token(*hashes))


def forget_tokens_of_inactive_user(sender: type[User], instance: User, **kwargs: Any) -> None:
    if instance.is_active or instance.pk is None:
        return
    hashes = list(AccessToken.objects.filter(user_id=instance.pk).values_list("token_hash", flat=True))
    transaction.on_commit(lambda: forget_access_token(*hashes))

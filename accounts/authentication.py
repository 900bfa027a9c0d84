"""``Authorization: Bearer <token>`` for the API, with per-scope permissions."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.cache import cache
from django.utils import timezone
from rest_framework import authentication, exceptions, permissions
from rest_framework.request import Request

from accounts.models import AccessToken, Scope, User, hash_token

# Writing last_used_at on every request would make each API call a write; a minute is precise enough.
LAST_USED_PRECISION = timedelta(minutes=1)


# How long ``authenticate_token(raw, cached=True)`` trusts a token (and its user) read earlier.
# Revocation and deactivation delete the entry (``forget_access_token``), so the delay bounds only
# a change that bypasses them; the registry's own bearer tokens already live five minutes.
TOKEN_CACHE_SECONDS = 30


def token_cache_key(token_hash: str) -> str:
    return f"access-token:{token_hash}"


def forget_access_token(*token_hashes: str) -> None:
    """Drop cached lookups of these tokens: the next use reads the database again."""
    if token_hashes:
        cache.delete_many([token_cache_key(h) for h in token_hashes])


_NOT_READ: Any = object()


def authenticate_token(raw: str, *, cached: bool = False, cache_hit: Any = _NOT_READ) -> AccessToken:
    """The usable token for ``raw``, or AuthenticationFailed saying exactly why not.

    ``cached`` (the registry's token endpoint, asked once per repository by every ``docker
    pull``) reuses a lookup for up to TOKEN_CACHE_SECONDS. The API always reads the database.
    ``cache_hit`` is what the cache held under ``token_cache_key`` when the caller already read it
    (the registry reads it in the throttle's round trip); only with ``cached``. Every check below
    still runs on it.
    """
    token_hash = hash_token(raw)
    key = token_cache_key(token_hash)
    if not cached:
        hit = None
    elif cache_hit is not _NOT_READ:
        hit = cache_hit
    else:
        hit = cache.get(key)
    from_cache = isinstance(hit, AccessToken)
    token: AccessToken | None = hit if from_cache else None
    if token is None:
        token = AccessToken.objects.select_related("user").filter(token_hash=token_hash).first()
    if token is None:
        raise exceptions.AuthenticationFailed("Unknown access token.", code="token_unknown")
    if token.revoked_at is not None:
        raise exceptions.AuthenticationFailed("This access token was revoked.", code="token_revoked")
    if token.is_expired:
        raise exceptions.AuthenticationFailed("This access token has expired.", code="token_expired")
    if not token.user.is_active:
        raise exceptions.AuthenticationFailed("This account is disabled.", code="user_inactive")
    now = timezone.now()
    written = token.last_used_at is None or now - token.last_used_at > LAST_USED_PRECISION
    if written:
        AccessToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    if cached and (written or not from_cache):
        cache.set(key, token, TOKEN_CACHE_SECONDS)
    return token


class AccessTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[User, AccessToken] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(
                "Send the header as “Authorization: Bearer <token>”.", code="token_malformed"
            )
        try:
            raw = header[1].decode()
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Unknown access token.", code="token_unknown") from None
        token = authenticate_token(raw)
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return f'{self.keyword} realm="api"'


class TokenScopePermission(permissions.BasePermission):
    """A token needs ``read`` for safe methods and ``write`` for the others; sessions need none."""

    message = "This access token lacks the scope this request needs."

    def has_permission(self, request: Request, view: Any) -> bool:
        token = request.auth
        if not isinstance(token, AccessToken):
            return True
        needed = Scope.READ if request.method in permissions.SAFE_METHODS else Scope.WRITE
        if token.has_scope(needed):
            return True
        self.message = f"This access token lacks the “{needed}” scope."
        return False

"""Token requests counted per client address in the cache, in fixed one-minute windows."""

from __future__ import annotations

import hashlib
import time
from typing import Any
from weakref import WeakKeyDictionary

from django.conf import settings
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache

WINDOW = 60


def token_rate() -> int:
    """Token requests allowed per address per minute. A `docker pull` asks once per repository."""
    return int(getattr(settings, "REGISTRY_TOKEN_RATE", 600))


def _window_key(address: str, window: int) -> str:
    return f"registry-token:{hashlib.sha256(address.encode()).hexdigest()[:32]}:{window}"


def _retry_after(count: int, window: int, now: float) -> int | None:
    if count > token_rate():
        return max(1, int((window + 1) * WINDOW - now))
    return None


def token_request_retry_after(address: str) -> int | None:
    """Count one token request from ``address``; seconds to wait if it is over the limit, else None."""
    return token_request_retry_after_and_get(address, None)[0]


def token_request_retry_after_and_get(address: str, cache_key: str | None) -> tuple[int | None, Any]:
    """``token_request_retry_after(address)`` and, in the same Redis round trip, the cache's value
    for ``cache_key`` (None when absent or not asked): the token endpoint counts the request and
    reads the cached access-token lookup at once."""
    now = time.time()
    window = int(now // WINDOW)
    key = _window_key(address, window)
    counted = _count_and_get_redis(key, cache_key)
    if counted is None:
        # Any other cache: incr() fails only on a missing key, and add() then writes only when
        # absent, so the first request of a window sets its expiry.
        try:
            count = cache.incr(key)
        except ValueError:
            count = 1 if cache.add(key, 1, timeout=WINDOW + 5) else cache.incr(key)
        value = cache.get(cache_key) if cache_key is not None else None
    else:
        count, value = counted
    return _retry_after(count, window, now), value


# Django's RedisCache builds a new ``redis.Redis`` for every command (its constructor fills a
# table of ~170 response callbacks: a third of this endpoint's Redis cost). One client per
# Django cache client (so per thread, sharing that thread's connection pool) is reused here.
_clients: WeakKeyDictionary[Any, Any] = WeakKeyDictionary()


def _redis_client(backend: RedisCache, redis_key: str) -> Any:
    cache_client = backend._cache
    client = _clients.get(cache_client)
    if client is None:
        client = _clients[cache_client] = cache_client.get_client(redis_key, write=True)
    return client


def _count_redis(key: str) -> int | None:
    """One round trip on Redis (Django's incr() costs two: EXISTS, then INCR): create the window's
    counter with its expiry if absent, then increment it. None when the cache is not Redis."""
    counted = _count_and_get_redis(key, None)
    return None if counted is None else counted[0]


def _count_and_get_redis(key: str, fetch: str | None) -> tuple[int, Any] | None:
    """``_count_redis(key)`` and, in the same round trip when ``fetch`` is given, the cached value
    of that key (read from the primary, where Django writes it; None when absent)."""
    backend = caches["default"]
    if not isinstance(backend, RedisCache):
        return None
    redis_key = backend.make_and_validate_key(key)
    pipe = _redis_client(backend, redis_key).pipeline(transaction=False)
    pipe.set(redis_key, 0, ex=WINDOW + 5, nx=True)
    pipe.incr(redis_key)
    if fetch is not None:
        pipe.get(backend.make_and_validate_key(fetch))
    results = pipe.execute()
    raw = results[2] if fetch is not None else None
    serializer: Any = getattr(backend._cache, "_serializer")  # noqa: B009 (private in the stubs)
    return int(results[1]), (None if raw is None else serializer.loads(raw))

"""Token requests counted per client address in the cache, in fixed one-minute windows."""

from __future__ import annotations

import hashlib
import time

from django.conf import settings
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache

WINDOW = 60


def token_rate() -> int:
    """Token requests allowed per address per minute. A `docker pull` asks once per repository."""
    return int(getattr(settings, "REGISTRY_TOKEN_RATE", 600))


def token_request_retry_after(address: str) -> int | None:
    """Count one token request from ``address``; seconds to wait if it is over the limit, else None."""
    now = time.time()
    window = int(now // WINDOW)
    key = f"registry-token:{hashlib.sha256(address.encode()).hexdigest()[:32]}:{window}"
    count = _count_redis(key)
    if count is None:
        # Any other cache: incr() fails only on a missing key, and add() then writes only when
        # absent, so the first request of a window sets its expiry.
        try:
            count = cache.incr(key)
        except ValueError:
            count = 1 if cache.add(key, 1, timeout=WINDOW + 5) else cache.incr(key)
    if count > token_rate():
        return max(1, int((window + 1) * WINDOW - now))
    return None


def _count_redis(key: str) -> int | None:
    """One round trip on Redis (Django's incr() costs two: EXISTS, then INCR): create the window's
    counter with its expiry if absent, then increment it. None when the cache is not Redis."""
    backend = caches["default"]
    if not isinstance(backend, RedisCache):
        return None
    redis_key = backend.make_and_validate_key(key)
    client = backend._cache.get_client(redis_key, write=True)
    pipe = client.pipeline(transaction=False)
    pipe.set(redis_key, 0, ex=WINDOW + 5, nx=True)
    pipe.incr(redis_key)
    return int(pipe.execute()[1])

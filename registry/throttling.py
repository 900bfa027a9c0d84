"""Token requests counted per client address in the cache, in fixed one-minute windows."""

from __future__ import annotations

import hashlib
import time

from django.conf import settings
from django.core.cache import cache

WINDOW = 60


def token_rate() -> int:
    """Token requests allowed per address per minute. A `docker pull` asks once per repository."""
    return int(getattr(settings, "REGISTRY_TOKEN_RATE", 600))


def token_request_retry_after(address: str) -> int | None:
    """Count one token request from ``address``; seconds to wait if it is over the limit, else None."""
    now = time.time()
    window = int(now // WINDOW)
    key = f"registry-token:{hashlib.sha256(address.encode()).hexdigest()[:32]}:{window}"
    # One round trip for every request but a window's first: incr() fails only on a missing key,
    # and add() then writes only when absent, so the first request of a window sets its expiry.
    try:
        count = cache.incr(key)
    except ValueError:
        count = 1 if cache.add(key, 1, timeout=WINDOW + 5) else cache.incr(key)
    if count > token_rate():
        return max(1, int((window + 1) * WINDOW - now))
    return None

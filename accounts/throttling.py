"""Failed logins counted in the cache, per account and per client address.

Each counter opens a window of ``LOGIN_THROTTLE_WINDOW`` at its first failure; once it reaches
``LOGIN_THROTTLE_ATTEMPTS`` every login for that account (or from that address) is refused until the
window closes, even with the right password. Cache keys hold digests, never the address itself.
"""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from django.utils import timezone


def client_address(request: HttpRequest) -> str:
    # REMOTE_ADDR only: X-Forwarded-For is whatever the client wants it to be unless a trusted
    # proxy rewrites it, and the proxy in front of the app is expected to set REMOTE_ADDR.
    return request.META.get("REMOTE_ADDR") or "unknown"


def _key(kind: str, value: str) -> str:
    return f"login-failures:{kind}:{hashlib.sha256(value.encode()).hexdigest()}"


def _keys(*, email: str, address: str) -> list[str]:
    return [_key("account", email.lower()), _key("address", address)]


def _window() -> timedelta:
    window: timedelta = settings.LOGIN_THROTTLE_WINDOW
    return window


def login_throttle_retry_at(*, email: str, address: str) -> datetime | None:
    """When logging in may be tried again, or None while attempts remain."""
    keys = _keys(email=email, address=address)
    values = cache.get_many([*keys, *(f"{key}:since" for key in keys)])
    retry_at: datetime | None = None
    for key in keys:
        if values.get(key, 0) < settings.LOGIN_THROTTLE_ATTEMPTS:
            continue
        since = values.get(f"{key}:since")
        opened = datetime.fromtimestamp(since, tz=UTC) if since else timezone.now()
        candidate = opened + _window()
        retry_at = candidate if retry_at is None else max(retry_at, candidate)
    return retry_at


def login_failure_record(*, email: str, address: str) -> None:
    timeout = math.ceil(_window().total_seconds())
    now = timezone.now().timestamp()
    for key in _keys(email=email, address=address):
        # add() only writes when the key is absent: the first failure opens the window.
        cache.add(f"{key}:since", now, timeout=timeout)
        cache.add(key, 0, timeout=timeout)
        try:
            cache.incr(key)
        except ValueError:  # expired between add() and incr()
            cache.set(key, 1, timeout=timeout)


def login_success_record(*, email: str) -> None:
    """A successful login forgives the account's failures (not the address's)."""
    key = _key("account", email.lower())
    cache.delete_many([key, f"{key}:since"])


def retry_message(retry_at: datetime) -> str:
    minutes = max(1, math.ceil((retry_at - timezone.now()).total_seconds() / 60))
    when = timezone.localtime(retry_at).strftime("%H:%M %Z")
    unit = "minute" if minutes == 1 else "minutes"
    return f"Too many failed login attempts. Try again in {minutes} {unit} (after {when})."

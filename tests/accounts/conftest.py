"""Fixtures of the accounts tests: a clean cache namespace per test and token helpers."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from accounts import services
from accounts.models import AccessToken, Scope, User
from tests.factories import UserFactory


@pytest.fixture(autouse=True)
def _own_cache_namespace(settings: Any) -> None:
    """Login failures are counted in the shared Redis: give every test its own key prefix.

    Changing CACHES makes Django drop its cache connections, so the next access uses the new
    prefix. ``cache.clear()`` would flush the whole Redis database, other test runs included.
    """
    caches = {name: dict(config) for name, config in settings.CACHES.items()}
    caches["default"]["KEY_PREFIX"] = f"{caches['default'].get('KEY_PREFIX', '')}-{uuid.uuid4().hex}"
    settings.CACHES = caches


@pytest.fixture
def user(db: None) -> User:
    return UserFactory(email="ada@example.com", full_name="Ada Lovelace")


@pytest.fixture
def make_token(db: None) -> Callable[..., tuple[AccessToken, str]]:
    def make(
        user: User,
        *,
        name: str = "laptop",
        scopes: list[str] | None = None,
        expires_at: datetime | None = None,
        revoked: bool = False,
    ) -> tuple[AccessToken, str]:
        token, raw = services.access_token_create(
            user=user, name=name, scopes=scopes or [Scope.READ], expires_at=expires_at, actor=user
        )
        if revoked:
            services.access_token_revoke(token=token, actor=user)
        return token, raw

    return make


def expire(token: AccessToken) -> None:
    """Expiry must be in the future when created; move it to the past afterwards."""
    AccessToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(minutes=1))

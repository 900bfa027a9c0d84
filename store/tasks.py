"""Site-wide housekeeping tasks."""

from __future__ import annotations

from contextlib import suppress
from importlib import import_module

from celery import shared_task
from django.conf import settings


@shared_task(acks_late=True)
def clear_expired_sessions() -> None:
    """Daily: drop expired sessions, as ``manage.py clearsessions`` does.

    Django never deletes a database session by itself, so without this the session table only
    grows. Session engines that expire entries on their own (cache, signed cookies) do nothing here.
    """
    engine = import_module(settings.SESSION_ENGINE)
    # Cookie-based sessions raise NotImplementedError: nothing is stored server-side to clear.
    with suppress(NotImplementedError):
        engine.SessionStore.clear_expired()

"""Celery tasks: scan an image, re-match a stored inventory. Each loads by id and calls a service.

Every failure ends the scan as failed with a reason the publisher can read; nothing a bad image
does escapes the task, so the worker goes on to the next scan.
"""

from __future__ import annotations

import logging
import random
from typing import Any

from celery import Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError

from scanning import engine, services

logger = logging.getLogger(__name__)

MAX_RETRIES = 5


def backoff(retries: int) -> int:
    """Seconds before retry ``retries + 1``: 15 s doubling to at most 10 minutes, with jitter."""
    delay: int = min(600, 15 * 2**retries)
    return delay + random.randint(0, delay // 4)  # noqa: S311 - jitter, not a secret


def _time_limit() -> int:
    return int(getattr(settings, "SCAN_TIME_LIMIT", 3600))


def queue_scan(scan_id: int, *, force: bool = False) -> None:
    """Send a scan to the workers, with the time limit read now rather than at import."""
    scan_image.apply_async((scan_id,), {"force": force}, soft_time_limit=_time_limit())


def _retry(task: Task[Any, Any], retries: int) -> str:
    if task.request.is_eager:
        # Run eagerly (the embedded default, tests) the retry happens now, inside this call; raising
        # Retry would reach whoever queued the scan, e.g. the web request that submitted a revision.
        # Celery's own eager retry is lost when eager exceptions propagate, so apply it here.
        signal = task.retry(countdown=backoff(retries), throw=False)
        again = getattr(signal, "sig", None)  # not in celery-types' stubs
        if again is not None:
            again.apply()
        return "retried"
    raise task.retry(countdown=backoff(retries))


@shared_task(bind=True, acks_late=True, max_retries=MAX_RETRIES)
def scan_image(self: Task[Any, Any], scan_id: int, force: bool = False) -> str:
    """Scan one image. Idempotent: a finished scan is not redone unless ``force``."""
    retries = int(self.request.retries or 0)
    try:
        scan = services.scan_execute(scan_id=scan_id, force=force)
    except engine.ScanError as exc:
        if services.is_transient(exc) and retries < MAX_RETRIES:
            services.scan_retry_later(scan_id=scan_id, reason=exc.reason)
            return _retry(self, retries)
        services.scan_fail(scan_id=scan_id, reason=exc.reason)
        return "failed"
    except SoftTimeLimitExceeded:
        services.scan_fail(scan_id=scan_id, reason=f"the scan took longer than {_time_limit()} seconds")
        return "failed"
    except (OperationalError, InterfaceError) as exc:
        # The database went away mid-scan: worth another try, like the network.
        if retries < MAX_RETRIES:
            logger.warning("scan %s: database error, retrying: %s", scan_id, exc)
            return _retry(self, retries)
        services.scan_fail(scan_id=scan_id, reason="the store's database was unavailable")
        return "failed"
    except (DatabaseError, MemoryError, RecursionError, OSError, ValueError, LookupError, TypeError) as exc:
        # A bug or an input the engine did not foresee: fail this scan, keep the worker serving.
        logger.exception("scan %s failed unexpectedly", scan_id)
        services.scan_fail(
            scan_id=scan_id,
            reason=f"the scanner failed unexpectedly ({type(exc).__name__}); we are looking into it",
        )
        return "failed"
    return "skipped" if scan is None else "done"


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=MAX_RETRIES)
def rematch_scan(scan_id: int) -> str:
    """Match a stored inventory against the current vulnerability data, without pulling the image."""
    counts = services.scan_rematch(scan_id=scan_id)
    return "skipped" if counts is None else "done"

"""Scans on a real Celery worker fed through Redis: bad images and a hanging registry end as failed
scans with a reason, and the same worker goes on to scan the next image.

The worker runs in a thread of this process (fixtures in conftest.py), on its own queue; the tests
are transactional so that what they write is committed and visible to that thread.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from celery.result import AsyncResult, EagerResult

from scanning import services, tasks
from scanning.models import Scan, ScanSource, ScanStatus
from tests.scanning.helpers import alpine_image

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

RESULT_TIMEOUT = 60


@pytest.fixture
def sent(monkeypatch, worker, worker_queue) -> list[AsyncResult[Any]]:
    """Every scan task the store queues (after commit, through tasks.queue_scan), on this worker's queue."""
    results: list[AsyncResult[Any]] = []
    original = tasks.scan_image.apply_async

    def apply_async(*args: Any, **options: Any) -> AsyncResult[Any]:
        result = original(*args, **{**options, "queue": worker_queue})
        results.append(result)
        return result

    monkeypatch.setattr(tasks.scan_image, "apply_async", apply_async)
    monkeypatch.setattr(tasks, "backoff", lambda retries: 0)  # retries go back through Redis at once
    return results


def wait_done(results: list[AsyncResult[Any]], count: int) -> None:
    deadline = time.monotonic() + RESULT_TIMEOUT
    while len(results) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(results) >= count
    for result in results[:count]:
        assert not isinstance(result, EagerResult), "sent to the broker, not run in-process"


def final(scan: Scan) -> Scan:
    deadline = time.monotonic() + RESULT_TIMEOUT
    while time.monotonic() < deadline:
        scan.refresh_from_db()
        if scan.status in (ScanStatus.DONE, ScanStatus.FAILED):
            return scan
        time.sleep(0.05)
    pytest.fail(f"scan {scan.pk} still {scan.status} after {RESULT_TIMEOUT} s: {scan.reason}")


def test_worker_fails_a_corrupt_tarball_then_scans_a_good_image(sent, tmp_path):
    corrupt = tmp_path / "corrupt.tar.gz"
    corrupt.write_bytes(b"\x1f\x8b\x08\x00\x00\x00\x00\x00truncated")
    truncated = tmp_path / "truncated.tar"
    truncated.write_bytes(alpine_image(tmp_path / "whole.tar").read_bytes()[:5000])
    good = alpine_image(tmp_path / "app.tar")

    bad_scan = services.scan_request(reference=str(corrupt), source=ScanSource.PATH)
    truncated_scan = services.scan_request(reference=str(truncated), source=ScanSource.PATH)
    good_scan = services.scan_request(reference=str(good), source=ScanSource.PATH)
    wait_done(sent, 3)

    assert [r.get(timeout=RESULT_TIMEOUT) for r in sent[:3]] == ["failed", "failed", "done"]
    bad_scan, truncated_scan, good_scan = final(bad_scan), final(truncated_scan), final(good_scan)
    assert bad_scan.status == ScanStatus.FAILED
    assert "corrupt.tar.gz is not a readable tar archive" in bad_scan.reason
    assert truncated_scan.status == ScanStatus.FAILED and truncated_scan.reason
    assert good_scan.status == ScanStatus.DONE, good_scan.reason
    assert sorted(good_scan.components.values_list("name", flat=True)) == ["libcrypto3", "musl", "zlib"]


def test_worker_gives_up_on_a_hanging_registry_and_scans_the_next_image(
    sent, settings, silent_registry, tmp_path
):
    settings.REGISTRY_URL = f"http://{silent_registry}"
    settings.SCAN_REGISTRY_TIMEOUT = 0.5
    started = time.monotonic()
    hung = services.scan_request(reference="acme/app:1.0")
    hung = final(hung)
    elapsed = time.monotonic() - started

    assert hung.status == ScanStatus.FAILED
    assert hung.reason == f"the registry {silent_registry} did not answer within 0.5 s"
    assert hung.attempts == tasks.MAX_RETRIES + 1  # a timeout is transient: retried, then failed
    assert elapsed < 30

    good = services.scan_request(reference=str(alpine_image(tmp_path / "app.tar")), source=ScanSource.PATH)
    assert final(good).status == ScanStatus.DONE, good.reason
    assert good.components.count() == 3

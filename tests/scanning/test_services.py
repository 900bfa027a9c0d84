"""Scans: requested idempotently after commit, run by the task, failures end as failed with a reason."""

from __future__ import annotations

import io
import tarfile
from datetime import timedelta
from unittest import mock

import pytest
import requests
from django.utils import timezone

from audit.models import AuditEvent, EventType
from scanning import engine, services, tasks
from scanning.models import Finding, Scan, ScanSource, ScanStatus
from scanning.selectors import scan_summary_for_revision
from tests.listings.helpers import complete_product, submitted
from tests.scanning.helpers import alpine_image, alpine_records, osv, write_records

pytestmark = pytest.mark.django_db


@pytest.fixture
def image(tmp_path):
    return alpine_image(tmp_path / "app.tar")


@pytest.fixture
def advisories(tmp_path):
    services.advisories_import(path=write_records(tmp_path / "osv", alpine_records()))


def path_scan(reference, **kwargs) -> Scan:
    return services.scan_request(reference=str(reference), source=ScanSource.PATH, **kwargs)


def test_request_is_idempotent_and_queues_after_commit(
    image, django_capture_on_commit_callbacks, monkeypatch
):
    delay = mock.Mock()
    monkeypatch.setattr(tasks.scan_image, "apply_async", delay)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        first = path_scan(image)
        second = path_scan(image)
    assert first.pk == second.pk
    assert first.status == ScanStatus.QUEUED
    assert len(callbacks) == 1
    delay.assert_not_called()  # nothing is sent before the transaction commits
    callbacks[0]()
    assert delay.call_args.args[0] == (first.pk,)
    assert (
        AuditEvent.objects.filter(event_type=EventType.SCAN_REQUESTED, target_id=str(first.pk)).count() == 1
    )


def test_task_scans_stores_the_inventory_and_findings(image, advisories, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        scan = path_scan(image)
    scan.refresh_from_db()
    assert scan.status == ScanStatus.DONE, scan.reason
    assert (scan.os_family, scan.os_version) == ("alpine", "3.18.4")
    assert (scan.layers_done, scan.layers_total, scan.progress_percent) == (2, 2, 100)
    assert scan.started_at and scan.finished_at and scan.digest.startswith("sha256:")
    assert [(c.name, c.layer.index) for c in scan.components.order_by("name")] == [
        ("libcrypto3", 0),
        ("musl", 0),
        ("zlib", 1),
    ]
    findings = {f.advisory_id: f for f in scan.findings.all()}
    assert set(findings) == {"ALPINE-CVE-2024-0001", "ALPINE-CVE-2024-0002", "ALPINE-CVE-2024-0003"}
    musl = findings["ALPINE-CVE-2024-0001"]
    assert (musl.cve, str(musl.cvss_score), musl.severity, musl.fix_state) == (
        "CVE-2024-0001",
        "9.8",
        "critical",
        "fixed",
    )
    assert musl.fixed_version == "1.2.4_git20230717-r5"
    assert findings["ALPINE-CVE-2024-0003"].fix_state == "not-fixed"
    assert musl.notified_at is None and musl.sla_due_at is None
    musl.notified_at = timezone.now()
    assert musl.sla_due_at == musl.notified_at + timedelta(hours=72)
    assert AuditEvent.objects.filter(event_type=EventType.SCAN_COMPLETED, target_id=str(scan.pk)).exists()


def test_a_done_scan_is_not_redone_unless_forced(image, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        scan = path_scan(image)
    assert tasks.scan_image.delay(scan.pk).get() == "skipped"
    scan.refresh_from_db()
    assert scan.attempts == 1
    assert tasks.scan_image.delay(scan.pk, force=True).get() == "done"
    scan.refresh_from_db()
    assert (scan.attempts, scan.status, scan.components.count()) == (2, ScanStatus.DONE, 3)


def test_corrupt_tarball_fails_with_a_reason_and_the_next_scan_runs(
    tmp_path, image, django_capture_on_commit_callbacks
):
    corrupt = tmp_path / "corrupt.tar.gz"
    corrupt.write_bytes(b"\x1f\x8b\x08\x00\x00\x00\x00\x00truncated")
    with django_capture_on_commit_callbacks(execute=True):
        bad = path_scan(corrupt)
        good = path_scan(image)
    bad.refresh_from_db()
    good.refresh_from_db()
    assert bad.status == ScanStatus.FAILED
    assert "corrupt.tar.gz" in bad.reason and "not a readable tar archive" in bad.reason
    assert bad.finished_at is not None
    assert good.status == ScanStatus.DONE
    assert AuditEvent.objects.filter(event_type=EventType.SCAN_FAILED, target_id=str(bad.pk)).exists()


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        ("no-registry", "no registry configured"),
        ("digest", "but the image config says"),
        ("missing", "does not exist"),
    ],
)
def test_bad_input_ends_the_scan_as_failed(
    tmp_path, settings, image, setup, reason, django_capture_on_commit_callbacks
):
    settings.REGISTRY_URL = ""
    with django_capture_on_commit_callbacks(execute=True):
        if setup == "no-registry":
            scan = services.scan_request(reference="acme/app:1")
        elif setup == "digest":
            # a layer whose bytes no longer match the diff id in the config
            broken = tmp_path / "broken.tar"
            with tarfile.open(image) as src, tarfile.open(broken, "w") as dst:
                for member in src.getmembers():
                    data = src.extractfile(member).read()
                    if member.name.endswith("layer.tar") and member.name.startswith("0" * 63 + "1"):
                        data = data.replace(b"#!/bin/sh", b"#!/bin/XX")
                    member.size = len(data)
                    dst.addfile(member, io.BytesIO(data))
            scan = path_scan(broken)
        else:
            scan = path_scan(tmp_path / "gone.tar")
    scan.refresh_from_db()
    assert scan.status == ScanStatus.FAILED
    assert reason in scan.reason


def test_registry_scan_pulls_with_the_service_credentials(
    settings, monkeypatch, image, django_capture_on_commit_callbacks
):
    settings.REGISTRY_URL = "http://registry.internal:5000"
    settings.REGISTRY_SERVICE_USERNAME = "scanner"
    settings.REGISTRY_SERVICE_PASSWORD = "s3cret"
    real_open = engine.open_source
    opened = mock.Mock(side_effect=lambda ref, **kw: real_open(str(image)))
    monkeypatch.setattr(services.engine, "open_source", opened)
    with django_capture_on_commit_callbacks(execute=True):
        scan = services.scan_request(reference="acme/app:1")
    scan.refresh_from_db()
    assert scan.status == ScanStatus.DONE, scan.reason
    assert opened.call_args.args == ("registry.internal:5000/acme/app:1",)
    assert opened.call_args.kwargs == {
        "scheme": "http",
        "timeout": 30.0,
        "username": "scanner",
        "password": "s3cret",
    }


def test_transient_registry_errors_retry_then_fail_with_the_reason(
    settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.REGISTRY_URL = "https://registry.internal"

    def unreachable(ref, **kwargs):
        try:
            raise requests.ConnectionError("connection refused")
        except requests.ConnectionError as exc:
            raise engine.ScanError(f"the registry registry.internal could not be reached: {exc}") from None

    opener = mock.Mock(side_effect=unreachable)
    monkeypatch.setattr(services.engine, "open_source", opener)
    monkeypatch.setattr(tasks, "backoff", lambda retries: 0)
    with django_capture_on_commit_callbacks(execute=True):
        scan = services.scan_request(reference="acme/app:1")
    scan.refresh_from_db()
    assert opener.call_count == tasks.MAX_RETRIES + 1
    assert scan.status == ScanStatus.FAILED
    assert "could not be reached" in scan.reason
    assert scan.attempts == tasks.MAX_RETRIES + 1


def test_is_transient_tells_network_from_bad_images():
    assert services.is_transient(engine.ScanError("the registry r answered 503"))
    assert services.is_transient(engine.ScanError("the registry r did not answer within 30 s"))
    assert not services.is_transient(engine.ScanError("the registry r answered 404"))
    assert not services.is_transient(engine.ScanError("layer 1: digest mismatch"))


def test_rematch_after_import_keeps_first_seen(
    tmp_path, image, advisories, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        scan = path_scan(image)
    earlier = timezone.now() - timedelta(days=10)
    Finding.objects.filter(scan=scan).update(first_seen_at=earlier)
    kept = Finding.objects.get(scan=scan, advisory_id="ALPINE-CVE-2024-0001").pk
    changed = [
        osv(
            "ALPINE-CVE-2024-0001",
            "Alpine:v3.18",
            "musl",
            "1.2.4_git20230717-r5",
            modified="2025-01-01T00:00:00Z",
        ),
        osv("ALPINE-CVE-2024-0003", "Alpine:v3.18", "zlib", "1.2.13-r0", modified="2025-01-01T00:00:00Z"),
        osv("ALPINE-CVE-2024-0009", "Alpine:v3.18", "zlib", None, modified="2025-01-01T00:00:00Z"),
    ]
    with django_capture_on_commit_callbacks(execute=True):
        report = services.advisories_import(path=write_records(tmp_path / "newer", changed))
    assert (report.added, report.changed) == (1, 2)
    assert report.rematch_scan_ids == [scan.pk]
    findings = {f.advisory_id: f for f in Finding.objects.filter(scan=scan)}
    # zlib 1.2.13-r1 is now fixed in 1.2.13-r0: gone; a new zlib record appears; musl lost its score
    assert set(findings) == {"ALPINE-CVE-2024-0001", "ALPINE-CVE-2024-0002", "ALPINE-CVE-2024-0009"}
    musl = findings["ALPINE-CVE-2024-0001"]
    assert musl.pk == kept and musl.first_seen_at == earlier
    assert (musl.cvss_score, musl.severity) == (None, "unknown")
    assert findings["ALPINE-CVE-2024-0002"].first_seen_at == earlier
    assert findings["ALPINE-CVE-2024-0009"].first_seen_at > earlier
    scan.refresh_from_db()
    assert scan.matched_at is not None


def test_override_rematches_the_findings_that_name_it(
    image, advisories, moderator, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        scan = path_scan(image)
    with django_capture_on_commit_callbacks(execute=True):
        services.severity_override_set(
            actor=moderator, identifier="CVE-2024-0003", severity="minor", reason="Not reachable"
        )
    zlib = Finding.objects.get(scan=scan, advisory_id="ALPINE-CVE-2024-0003")
    assert (zlib.severity, zlib.overridden) == ("minor", True)
    override = services.SeverityOverride.objects.get(identifier="CVE-2024-0003")
    with django_capture_on_commit_callbacks(execute=True):
        services.severity_override_remove(actor=moderator, override=override)
    zlib.refresh_from_db()
    assert (zlib.severity, zlib.overridden) == ("major", False)


def test_rescanning_the_same_image_keeps_first_seen_and_notified(
    image, advisories, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        first = path_scan(image)
    earlier = timezone.now() - timedelta(days=3)
    Finding.objects.filter(scan=first).update(first_seen_at=earlier, notified_at=earlier)
    with django_capture_on_commit_callbacks(execute=True):
        second = path_scan(image)
    assert second.pk != first.pk
    assert set(Finding.objects.filter(scan=second).values_list("first_seen_at", "notified_at")) == {
        (earlier, earlier)
    }
    tasks.scan_image.delay(second.pk, force=True).get()
    assert set(Finding.objects.filter(scan=second).values_list("first_seen_at", flat=True)) == {earlier}


def test_revision_submit_requests_one_scan_per_staging_source(
    personas, settings, django_capture_on_commit_callbacks
):
    """Submitting a revision requests one scan per staging source itself."""
    settings.REGISTRY_URL = ""
    with django_capture_on_commit_callbacks(execute=True):
        revision = submitted(personas.acme, personas.member, tiers=3)  # two tiers share a source
    scans = list(Scan.objects.filter(revision=revision))
    assert sorted(s.reference for s in scans) == ["acme/pg-free:15", "acme/postgres-staging:15.4"]
    for scan in scans:
        scan.refresh_from_db()
        assert scan.publisher == personas.acme
        assert scan.revision == revision and scan.product == revision.product
        assert scan.tier.revision == revision and scan.tier_key == scan.tier.key
        assert (scan.status, scan.reason) == (ScanStatus.FAILED, "no registry configured")
    summary = scan_summary_for_revision(revision)
    assert [row.reference for row in summary["tiers"]] == [
        "acme/postgres-staging:15.4",
        "acme/pg-free:15",
        "acme/postgres-staging:15.4",
    ]
    assert len(summary["failed"]) == 3 and not summary["complete"]


def test_summary_for_revision_counts_by_severity_and_names_critical_cves(
    personas, monkeypatch, settings, image, advisories, django_capture_on_commit_callbacks
):
    settings.REGISTRY_URL = "registry.internal"
    real_open = engine.open_source
    monkeypatch.setattr(services.engine, "open_source", lambda ref, **kw: real_open(str(image)))
    product = complete_product(personas.acme, personas.member, tiers=1)
    revision = product.revisions.get()
    assert scan_summary_for_revision(revision)["missing"]
    with django_capture_on_commit_callbacks(execute=True):
        services.scans_request_for_revision(revision=revision, requested_by=personas.member)
    summary = scan_summary_for_revision(revision)
    assert summary["complete"]
    assert summary["totals"] == {
        "critical": 2,
        "major": 1,
        "minor": 0,
        "none": 0,
        "unknown": 0,
        "fixable": 2,
        "total": 3,
    }
    assert summary["tiers"][0].critical == ["CVE-2024-0001", "CVE-2024-0002"]

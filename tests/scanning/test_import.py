"""import_osv: idempotent, incremental by `modified`, bad records reported and skipped."""

from __future__ import annotations

import json
import zipfile
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from audit.models import AuditEvent, EventType
from scanning import services
from scanning.models import Advisory, AffectedPackage
from tests.scanning.helpers import V31_CRITICAL, osv, write_records

pytestmark = pytest.mark.django_db


def run(path) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("import_osv", str(path), stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_corpus_records_import_once_then_are_unchanged(corpus):
    out, err = run(corpus / "osv")
    assert out.strip() == "added 8, changed 0, unchanged 0, refused 0"
    assert err == ""
    dla = Advisory.objects.get(osv_id="DLA-3008-1")
    assert dla.upstream == ["CVE-2022-1292", "DEBIAN-CVE-2022-1292"]
    assert dla.cve_ids == ["CVE-2022-1292"]
    assert set(dla.packages.values_list("ecosystem", "name")) == {("Debian:9", "openssl")}
    musl = Advisory.objects.get(osv_id="ALPINE-CVE-2025-26519")
    assert ("Alpine:v3.18", "musl") in set(musl.packages.values_list("ecosystem", "name"))
    packages = AffectedPackage.objects.count()

    out, _ = run(corpus / "osv")
    assert out.strip() == "added 0, changed 0, unchanged 8, refused 0"
    assert AffectedPackage.objects.count() == packages
    assert AuditEvent.objects.filter(event_type=EventType.ADVISORIES_IMPORTED).count() == 1


def test_newer_modified_replaces_the_record_and_older_is_ignored(tmp_path):
    eco = "Alpine:v3.18"
    write_records(
        tmp_path / "a", [osv("A-1", eco, "musl", "1.2.5-r0", modified="2024-02-01T00:00:00.123456789Z")]
    )
    assert services.advisories_import(path=tmp_path / "a").added == 1

    older = osv("A-1", eco, "busybox", "1.0-r0", modified="2024-01-01T00:00:00Z")
    write_records(tmp_path / "b", [older])
    report = services.advisories_import(path=tmp_path / "b")
    assert (report.added, report.changed, report.unchanged) == (0, 0, 1)
    assert list(AffectedPackage.objects.values_list("name", flat=True)) == ["musl"]

    newer = osv("A-1", eco, "busybox", "1.0-r0", modified="2024-03-01T00:00:00Z", vector=V31_CRITICAL)
    write_records(tmp_path / "c", [newer])
    report = services.advisories_import(path=tmp_path / "c")
    assert (report.added, report.changed, report.unchanged) == (0, 1, 0)
    advisory = Advisory.objects.get(osv_id="A-1")
    assert list(advisory.packages.values_list("name", flat=True)) == ["busybox"]
    assert advisory.severity == [["CVSS_V3", V31_CRITICAL]]


def test_bad_records_are_reported_with_their_file_and_skipped(tmp_path):
    folder = tmp_path / "osv"
    write_records(folder, [osv("GOOD-1", "PyPI", "Django", "4.2.1")], sub="PyPI")
    (folder / "broken.json").write_text("{not json")
    (folder / "list.json").write_text("[1, 2]")
    (folder / "noid.json").write_text(json.dumps({"affected": []}))
    (folder / "badtime.json").write_text(json.dumps(osv("BAD-T", "PyPI", "x", "1", modified="yesterday")))
    (folder / "badrange.json").write_text(
        json.dumps(
            {
                "id": "BAD-R",
                "affected": [{"package": {"ecosystem": "PyPI", "name": "x"}, "ranges": [{"events": []}]}],
            }
        )
    )
    (folder / "nopackage.json").write_text(json.dumps({"id": "BAD-P", "affected": [{"ranges": []}]}))
    (folder / "README.md").write_text("not a record")
    out, err = run(folder)
    assert out.strip() == "added 1, changed 0, unchanged 0, refused 6"
    refused = dict(line.removeprefix("refused ").split(": ", 1) for line in err.strip().splitlines())
    assert set(refused) == {
        "broken.json",
        "list.json",
        "noid.json",
        "badtime.json",
        "badrange.json",
        "nopackage.json",
    }
    assert "not valid JSON" in refused["broken.json"]
    assert "not a JSON object" in refused["list.json"]
    assert "no id" in refused["noid.json"]
    assert "RFC 3339" in refused["badtime.json"]
    assert "no type" in refused["badrange.json"]
    assert list(Advisory.objects.values_list("osv_id", flat=True)) == ["GOOD-1"]
    # PyPI names are indexed in their PEP 503 form
    assert list(AffectedPackage.objects.values_list("ecosystem", "name")) == [("PyPI", "django")]


def test_a_zip_in_the_bulk_export_layout_imports(tmp_path):
    archive = tmp_path / "all.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("Alpine/A-1.json", json.dumps(osv("A-1", "Alpine:v3.18", "musl", "1.2.5-r0")))
        zf.writestr("PyPI/P-1.json", json.dumps(osv("P-1", "PyPI", "requests", "2.31.0")))
        zf.writestr("PyPI/bad.json", "nope")
    report = services.advisories_import(path=archive)
    assert (report.added, len(report.refused)) == (2, 1)
    assert report.refused[0][0] == "PyPI/bad.json"
    assert services.advisories_import(path=archive).unchanged == 2


def test_a_path_that_is_neither_folder_nor_zip_is_refused(tmp_path):
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(CommandError, match="neither a folder nor a readable zip"):
        call_command("import_osv", str(tmp_path / "x.txt"), stdout=StringIO())
    with pytest.raises(CommandError, match="does not exist"):
        call_command("import_osv", str(tmp_path / "missing"), stdout=StringIO())

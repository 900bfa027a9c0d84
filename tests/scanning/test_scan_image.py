"""scan_image: the issue's JSON shape, trivy's packages for the corpus image, matching imported data."""

from __future__ import annotations

import json
from io import StringIO

import cvss
import pytest
from django.core.management import CommandError, call_command

from scanning import services
from scanning.models import SeverityOverride
from tests.scanning.helpers import (
    V31_CRITICAL,
    V31_MAJOR,
    V40_CRITICAL,
    alpine_image,
    alpine_records,
    write_records,
)

pytestmark = pytest.mark.django_db


def scan(*args: str) -> str:
    out = StringIO()
    call_command("scan_image", *args, stdout=out)
    return out.getvalue()


def test_corpus_alpine_image_lists_exactly_trivys_packages(corpus):
    case = corpus / "trivy-alpine311-image"
    result = json.loads(scan(str(case / "alpine-311.tar.gz"), "--format", "json"))
    assert set(result) == {"image", "packages", "vulnerabilities"}
    assert result["image"]["os"] == {"family": "alpine", "version": "3.11.5"}
    expected_image = json.loads((case / "expected_image.json").read_text())
    assert [layer["diff_id"] for layer in result["image"]["layers"]] == expected_image["DiffIDs"]
    assert result["image"]["digest"] == expected_image["ImageID(config digest)"]
    expected = {
        (p["Name"], p["Version"], p["SrcName"], p["SrcVersion"])
        for p in json.loads((case / "expected_packages.json").read_text())
    }
    found = {(p["name"], p["version"], p["source_name"], p["source_version"]) for p in result["packages"]}
    assert len(result["packages"]) == 14
    assert found == expected
    assert {p["layer_diff_id"] for p in result["packages"]} == set(expected_image["DiffIDs"])
    assert set(result["packages"][0]) == {
        "name",
        "version",
        "source_name",
        "source_version",
        "ecosystem",
        "purl",
        "layer_diff_id",
    }
    assert result["vulnerabilities"] == []


def test_after_import_the_affected_packages_are_reported_with_scores_and_classes(tmp_path):
    image = alpine_image(tmp_path / "app.tar")
    services.advisories_import(path=write_records(tmp_path / "osv", alpine_records()))
    result = json.loads(scan(str(image), "--format", "json"))
    by_id = {v["id"]: v for v in result["vulnerabilities"]}
    assert set(by_id) == {"ALPINE-CVE-2024-0001", "ALPINE-CVE-2024-0002", "ALPINE-CVE-2024-0003"}
    musl, openssl, zlib = (by_id[f"ALPINE-CVE-2024-000{i}"] for i in (1, 2, 3))
    assert musl == {
        "id": "ALPINE-CVE-2024-0001",
        "aliases": ["CVE-2024-0001"],
        "package": "musl",
        "installed_version": "1.2.4-r1",
        "fixed_version": "1.2.4_git20230717-r5",
        "cvss_vector": V31_CRITICAL,
        "cvss_score": float(cvss.CVSS3(V31_CRITICAL).base_score),
        "severity": "critical",
    }
    assert musl["cvss_score"] == 9.8
    # matched on the apk origin (source package), reported under the binary package
    assert openssl["package"] == "libcrypto3"
    assert openssl["cvss_score"] == float(cvss.CVSS4(V40_CRITICAL).base_score) == 9.3
    assert openssl["severity"] == "critical"
    assert zlib["fixed_version"] is None
    assert zlib["cvss_score"] == float(cvss.CVSS3(V31_MAJOR).base_score) == 5.4
    assert zlib["severity"] == "major"
    layers = [layer["diff_id"] for layer in result["image"]["layers"]]
    by_name = {p["name"]: p["layer_diff_id"] for p in result["packages"]}
    assert by_name == {"musl": layers[0], "libcrypto3": layers[0], "zlib": layers[1]}


def test_a_security_team_override_wins_over_the_score(tmp_path):
    image = alpine_image(tmp_path / "app.tar")
    services.advisories_import(path=write_records(tmp_path / "osv", alpine_records()))
    SeverityOverride.objects.create(
        identifier="CVE-2024-0003", severity="critical", reason="Exploited in the wild"
    )
    result = json.loads(scan(str(image), "--format", "json"))
    zlib = next(v for v in result["vulnerabilities"] if v["package"] == "zlib")
    assert (zlib["cvss_score"], zlib["severity"]) == (5.4, "critical")


def test_table_and_cyclonedx_formats(tmp_path):
    image = alpine_image(tmp_path / "app.tar")
    services.advisories_import(path=write_records(tmp_path / "osv", alpine_records()))
    table = scan(str(image))
    assert "alpine 3.18.4" in table
    assert "CVE-2024-0001" in table and "9.8" in table and "critical" in table
    bom = json.loads(scan(str(image), "--format", "cyclonedx"))
    assert bom["bomFormat"] == "CycloneDX" and bom["specVersion"] == "1.5"
    assert {c["name"] for c in bom["components"] if c["type"] == "library"} == {"musl", "libcrypto3", "zlib"}


def test_a_failed_scan_gives_the_reason_and_a_non_zero_exit(tmp_path):
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(b"\x1f\x8b\x08\x00garbage")
    with pytest.raises(CommandError, match=r"scan failed: .*bad\.tar\.gz"):
        scan(str(bad), "--format", "json")
    with pytest.raises(CommandError, match="does not exist"):
        scan(str(tmp_path / "missing.tar"))
    with pytest.raises(CommandError, match="platform"):
        scan(str(alpine_image(tmp_path / "app.tar")), "--platform", "linux")


def test_a_registry_reference_is_pulled_over_the_registry_api(settings):
    """REF naming the store's registry: pulled over HTTP API v2 (Bearer challenge), scheme from REGISTRY_URL."""
    from tests.scanning.engine.images import alpine_image as engine_alpine_image
    from tests.scanning.engine.images import oci_files
    from tests.scanning.engine.test_registry import serve

    server, digest = serve(oci_files([engine_alpine_image()]))
    try:
        host = f"127.0.0.1:{server.server_address[1]}"
        settings.REGISTRY_URL = f"http://{host}"
        out = json.loads(scan(f"{host}/acme/app:1.0", "--format", "json"))
    finally:
        server.shutdown()
        server.server_close()
    assert out["image"]["digest"] == digest
    assert {p["name"] for p in out["packages"]} == {"musl", "musl-utils", "libcrypto1.1"}


def test_a_registry_that_hangs_fails_the_command_with_the_reason(settings, silent_registry):
    settings.REGISTRY_URL = f"http://{silent_registry}"
    settings.SCAN_REGISTRY_TIMEOUT = 0.5
    with pytest.raises(CommandError, match=r"scan failed: the registry .* did not answer within 0\.5 s"):
        scan(f"{silent_registry}/acme/app:1.0", "--format", "json")

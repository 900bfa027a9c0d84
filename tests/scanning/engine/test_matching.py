"""Matching components against OSV records, and the CycloneDX inventory."""

from __future__ import annotations

import json

import pytest

from scanning.engine.model import Component, FixState, Severity
from scanning.engine.osv import AdvisoryIndex, OSVError, load_advisory, parse_advisory
from scanning.engine.sbom import to_cyclonedx
from scanning.engine.scan import scan_path
from tests.scanning.engine.images import alpine_image, oci_files, write_folder


def component(name, version, source=None, source_version=None, package_type="apk", ecosystem="Alpine:v3.19"):
    return Component(
        name, version, source or name, source_version or version, package_type, ecosystem, "", "", None
    )


def record(**overrides):
    doc = {
        "id": "TEST-1",
        "aliases": ["CVE-2099-0001"],
        "modified": "2024-01-01T00:00:00Z",
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
        "affected": [
            {
                "package": {"ecosystem": "Alpine:v3.19", "name": "musl"},
                "ranges": [
                    {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.2.4_git20230717-r5"}]}
                ],
            }
        ],
    }
    doc.update(overrides)
    return parse_advisory(doc)


def test_fixed_version_with_a_git_suffix():
    index = AdvisoryIndex([record()])
    [finding] = index.match([component("musl", "1.2.4_git20230717-r4"), component("musl-x", "1.0-r0")])
    assert finding.fix_state is FixState.FIXED
    assert finding.fixed_version == "1.2.4_git20230717-r5"
    assert finding.score.base_score == 9.8
    assert finding.severity is Severity.CRITICAL
    assert finding.cve_ids == ("CVE-2099-0001",)
    assert index.match([component("musl", "1.2.4_git20230717-r5")]) == []


def test_os_packages_match_by_source_name_and_version():
    """Debian records name the source package: libssl1.1 is matched as openssl."""
    advisory = record(
        affected=[
            {
                "package": {"ecosystem": "Debian:11", "name": "openssl"},
                "ranges": [
                    {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.1.1n-0+deb11u4"}]}
                ],
            }
        ]
    )
    libssl = component("libssl1.1", "1.1.1n-0+deb11u3+b1", "openssl", "1.1.1n-0+deb11u3", "deb", "Debian:11")
    [finding] = AdvisoryIndex([advisory]).match([libssl])
    assert finding.installed_version == "1.1.1n-0+deb11u3"
    # same release name on another Debian release: no match
    assert (
        AdvisoryIndex([advisory]).match([component("libssl1.1", "1.0", "openssl", "1.0", "deb", "Debian:12")])
        == []
    )


def test_no_fixed_event_means_not_fixed_and_zero_fix_means_not_affected():
    open_ended = record(
        affected=[
            {
                "package": {"ecosystem": "PyPI", "name": "Django"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "4.0"}]}],
            }
        ]
    )
    [finding] = AdvisoryIndex([open_ended]).match(
        [component("django", "4.2.1", package_type="pypi", ecosystem="PyPI")]
    )
    assert finding.fix_state is FixState.NOT_FIXED
    assert finding.fixed_version is None
    assert (
        AdvisoryIndex([open_ended]).match([component("django", "3.2", package_type="pypi", ecosystem="PyPI")])
        == []
    )

    safe = record(
        affected=[
            {
                "package": {"ecosystem": "Debian:12", "name": "bash"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "0"}]}],
            }
        ]
    )
    bash = component("bash", "5.2-1", package_type="deb", ecosystem="Debian:12")
    assert AdvisoryIndex([safe]).match([bash]) == []
    [state] = AdvisoryIndex([safe]).match([bash], include_not_affected=True)
    assert state.fix_state is FixState.NOT_AFFECTED


def test_last_affected_limit_and_explicit_versions():
    advisory = record(
        affected=[
            {
                "package": {"ecosystem": "npm", "name": "left-pad"},
                "ranges": [
                    {"type": "SEMVER", "events": [{"introduced": "1.0.0"}, {"last_affected": "1.2.0"}]}
                ],
                "versions": ["0.9.0"],
            }
        ],
        severity=[
            {"type": "CVSS_V4", "score": "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:L/VI:N/VA:N/SC:N/SI:N/SA:N"}
        ],
    )
    index = AdvisoryIndex([advisory])

    def hits(version):
        return [
            f.component.version
            for f in index.match([component("left-pad", version, package_type="npm", ecosystem="npm")])
        ]

    assert hits("1.2.0") == ["1.2.0"]
    assert hits("1.2.1") == []
    assert hits("0.9.0") == ["0.9.0"]
    assert hits("0.8.0") == []
    [finding] = index.match([component("left-pad", "1.1.0", package_type="npm", ecosystem="npm")])
    assert finding.score.version == "4.0"
    assert finding.severity is Severity.MAJOR


def test_withdrawn_records_are_ignored_and_overrides_win():
    assert (
        AdvisoryIndex([record(withdrawn="2024-02-01T00:00:00Z")]).match([component("musl", "1.0-r0")]) == []
    )
    [finding] = AdvisoryIndex([record()]).match(
        [component("musl", "1.0-r0")], overrides={"CVE-2099-0001": Severity.MINOR}
    )
    assert finding.severity is Severity.MINOR


def test_bad_records_are_refused_with_a_reason():
    with pytest.raises(OSVError, match="no id"):
        load_advisory(b'{"affected": []}')
    with pytest.raises(OSVError, match="not valid JSON"):
        load_advisory(b"{")
    with pytest.raises(OSVError, match="unknown range event"):
        record(
            affected=[
                {
                    "package": {"ecosystem": "npm", "name": "x"},
                    "ranges": [{"type": "SEMVER", "events": [{"broken": "1"}]}],
                }
            ]
        )


def test_corpus_records_match_real_versions(corpus):
    index = AdvisoryIndex(load_advisory(p.read_bytes()) for p in (corpus / "osv").glob("*.json"))
    musl = component("musl", "1.2.4_git20230717-r4")
    openssl = component("libssl1.1", "1.1.0l-1~deb9u5", "openssl", None, "deb", "Debian:9")
    nginx = component("nginx-full", "1.2.1-2.2+wheezy3", "nginx", None, "deb", "Debian:7")
    found = {(f.advisory_id, f.fixed_version) for f in index.match([musl, openssl, nginx])}
    assert found == {("ALPINE-CVE-2025-26519", "1.2.4_git20230717-r5"), ("DLA-3008-1", "1.1.0l-1~deb9u6")}


def test_cyclonedx_document(tmp_path):
    inventory = scan_path(write_folder(tmp_path, oci_files([alpine_image()])))
    bom = to_cyclonedx(inventory)
    assert bom["bomFormat"] == "CycloneDX"
    assert bom["specVersion"] == "1.5"
    libraries = [c for c in bom["components"] if c["type"] == "library"]
    assert {c["purl"] for c in libraries} == {c.purl for c in inventory.components}
    assert all(c["bom-ref"] for c in libraries)
    layer_props = {p["name"]: p["value"] for p in libraries[0]["properties"]}
    assert layer_props["store:layer:diff_id"] == inventory.image.layers[0].diff_id
    assert any(c["type"] == "operating-system" and c["version"] == "3.11.5" for c in bom["components"])
    json.dumps(bom)  # serialisable as is

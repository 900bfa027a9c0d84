"""Check the engine against other scanners' expectations: ``python -m scanning.engine.validate CORPUS``.

Prints one row per case, expected vs found, and exits 1 if any row disagrees.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scanning.engine import apkversion
from scanning.engine.analyzers import ApkAnalyzer, DpkgAnalyzer
from scanning.engine.errors import ScanError
from scanning.engine.layers import read_layer
from scanning.engine.limits import DEFAULT_LIMITS
from scanning.engine.osv import OSVError, load_advisory
from scanning.engine.scan import scan_path
from scanning.engine.scoring import ScoreError, cvss3_scores, score_vector


@dataclass(frozen=True)
class Row:
    case: str
    expected: str
    found: str
    ok: bool
    detail: str = ""


def _trivy_version(entry: dict[str, Any], prefix: str = "") -> str:
    """Trivy splits dpkg versions into Epoch, Version, Release: join them as E:V-R."""
    version = entry.get(prefix + "Version", "")
    if entry.get(prefix + "Release"):
        version = f"{version}-{entry[prefix + 'Release']}"
    if entry.get(prefix + "Epoch"):
        version = f"{entry[prefix + 'Epoch']}:{version}"
    return version


def _expected_packages(path: Path) -> set[tuple[str, str, str, str]]:
    return {
        (p["Name"], _trivy_version(p), p["SrcName"], _trivy_version(p, "Src"))
        for p in json.loads(path.read_text())
    }


def _compare_sets(case: str, expected: set[Any], found: set[Any]) -> Row:
    missing, extra = expected - found, found - expected
    detail = ""
    if missing or extra:
        detail = f"missing {sorted(missing)[:5]} extra {sorted(extra)[:5]}"
    return Row(
        case,
        f"{len(expected)} packages",
        f"{len(found)} packages, {len(expected & found)} equal",
        not detail,
        detail,
    )


def alpine_image_rows(corpus: Path) -> list[Row]:
    folder = corpus / "trivy-alpine311-image"
    inventory = scan_path(folder / "alpine-311.tar.gz")
    expected_image = json.loads((folder / "expected_image.json").read_text())
    found = {(c.name, c.version, c.source_name, c.source_version) for c in inventory.components}
    rows = [
        _compare_sets(
            "trivy alpine 3.11 image: packages", _expected_packages(folder / "expected_packages.json"), found
        )
    ]
    os_info = inventory.image.os
    os_found = f"{os_info.family} {os_info.version}" if os_info else "none"
    os_expected = f"{expected_image['OS']['Family']} {expected_image['OS']['Name']}"
    rows.append(Row("trivy alpine 3.11 image: OS", os_expected, os_found, os_found == os_expected))
    diff_ids = [layer.diff_id for layer in inventory.image.layers]
    rows.append(
        Row(
            "trivy alpine 3.11 image: diff ids",
            " ".join(expected_image["DiffIDs"]),
            " ".join(diff_ids),
            diff_ids == expected_image["DiffIDs"],
        )
    )
    image_id = expected_image["ImageID(config digest)"]
    rows.append(
        Row(
            "trivy alpine 3.11 image: image id",
            image_id,
            inventory.image.config_digest,
            image_id == inventory.image.config_digest,
        )
    )
    created = inventory.image.layers[0].created_by if inventory.image.layers else None
    rows.append(
        Row(
            "trivy alpine 3.11 image: created_by",
            repr(expected_image["CreatedBy"]),
            repr(created),
            created == expected_image["CreatedBy"],
        )
    )
    return rows


def dpkg_rows(corpus: Path) -> list[Row]:
    folder = corpus / "trivy-dpkg"
    packages = DpkgAnalyzer().parse("var/lib/dpkg/status", (folder / "status").read_bytes(), 0, None)
    found = {(p.name, p.version, p.source_name, p.source_version) for p in packages}
    return [_compare_sets("trivy dpkg status", _expected_packages(folder / "expected_packages.json"), found)]


def apk_rows(corpus: Path) -> list[Row]:
    folder = corpus / "trivy-apk"
    packages = ApkAnalyzer().parse("lib/apk/db/installed", (folder / "installed").read_bytes(), 0, None)
    found = {(p.name, p.version, p.source_name, p.source_version) for p in packages}
    return [
        _compare_sets("trivy apk installed", _expected_packages(folder / "expected_packages.json"), found)
    ]


def whiteout_rows(corpus: Path) -> list[Row]:
    folder = corpus / "claircore-whiteout"
    expected = json.loads((folder / "expected.json").read_text())["expected_whiteout_entries"]
    rows = []
    for name, count in sorted(expected.items()):
        with (folder / name).open("rb") as stream:
            files, _, _ = read_layer(
                stream,
                index=0,
                wants=lambda _p: None,
                limits=DEFAULT_LIMITS,
                expected_digest=None,
                expected_diff_id=None,
                what=name,
            )
        found = files.whiteout_entries
        ok = found == count
        if name == "whiteout_opaque.layer":
            # b/not.a.wh..wh..opq is an ordinary file, not an opaque marker for b/
            ok = ok and "b" not in files.opaque_dirs and files.opaque_dirs == ["a"]
        rows.append(
            Row(
                f"claircore whiteout: {name}",
                f"{count} whiteout entries",
                f"{found} ({files.opaque_dirs} opaque)",
                ok,
            )
        )
    return rows


def apk_version_rows(corpus: Path) -> list[Row]:
    lines = (corpus / "apk-version" / "version.data").read_text().splitlines()
    checked, failures = 0, []
    for number, raw in enumerate(lines, 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) == 3:
            ok = apkversion.matches(parts[0], parts[1], parts[2])
        elif len(parts) == 1:
            text = parts[0]
            ok = not apkversion.is_valid(text[1:]) if text.startswith("!") else apkversion.is_valid(text)
        else:
            ok = False
        checked += 1
        if not ok:
            failures.append(f"line {number}: {raw.strip()}")
    return [
        Row(
            "apk-tools version table",
            f"{checked} rows agree",
            f"{checked - len(failures)} rows agree",
            not failures,
            "; ".join(failures[:5]),
        )
    ]


def cvss_rows(corpus: Path) -> list[Row]:
    rows = []
    for path in sorted((corpus / "cvss").iterdir()):
        total, failures = 0, []
        for raw in path.read_text().splitlines():
            if " - " not in raw:
                continue
            vector, _, expected_text = raw.partition(" - ")
            expected = ast.literal_eval(expected_text.strip())
            total += 1
            try:
                if vector.startswith("CVSS:4.0/"):
                    want = float(expected[0] if isinstance(expected, tuple) else expected)
                    got: Any = score_vector(vector).base_score
                    ok = got == want
                else:
                    want_scores = tuple(float(x) for x in expected)
                    got = cvss3_scores(vector)
                    ok = got == want_scores
            except ScoreError as exc:
                ok, got = False, str(exc)
            if not ok:
                failures.append(f"{vector}: expected {expected}, got {got}")
        rows.append(
            Row(
                f"cvss vectors: {path.name}",
                f"{total} scores",
                f"{total - len(failures)} equal",
                not failures,
                "; ".join(failures[:3]),
            )
        )
    return rows


def osv_rows(corpus: Path) -> list[Row]:
    paths = sorted((corpus / "osv").glob("*.json"))
    parsed, failures = 0, []
    for path in paths:
        try:
            load_advisory(path.read_bytes())
            parsed += 1
        except OSVError as exc:
            failures.append(f"{path.name}: {exc}")
    return [
        Row(
            "osv records parse",
            f"{len(paths)} records",
            f"{parsed} parsed",
            not failures,
            "; ".join(failures),
        )
    ]


CASES: list[Callable[[Path], list[Row]]] = [
    alpine_image_rows,
    dpkg_rows,
    apk_rows,
    whiteout_rows,
    apk_version_rows,
    cvss_rows,
    osv_rows,
]


def run(corpus: Path) -> list[Row]:
    rows: list[Row] = []
    for case in CASES:
        try:
            rows.extend(case(corpus))
        except (ScanError, OSError, ValueError, KeyError) as exc:
            rows.append(Row(case.__name__, "a result", f"error: {exc}", False))
    return rows


def render(rows: list[Row]) -> str:
    def cut(text: str, width: int) -> str:
        return text if len(text) <= width else text[: width - 1] + "…"

    header = f"{'case':<44} {'expected':<26} {'found':<34} ok"
    lines = [header, "-" * len(header)]
    for row in rows:
        lines.append(
            f"{cut(row.case, 44):<44} {cut(row.expected, 26):<26} {cut(row.found, 34):<34} {'yes' if row.ok else 'NO'}"
        )
        if row.detail and not row.ok:
            lines.append(f"    {row.detail}")
    failed = sum(not r.ok for r in rows)
    lines.append(f"{len(rows) - failed} of {len(rows)} rows agree")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("corpus", type=Path, help="the corpus folder (../shared/corpus)")
    args = parser.parse_args(argv)
    if not args.corpus.is_dir():
        print(f"{args.corpus} is not a folder", file=sys.stderr)
        return 2
    rows = run(args.corpus)
    print(render(rows))
    return 0 if all(r.ok for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())

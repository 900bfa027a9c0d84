"""``python manage.py scan_image REF``: scan an image and match it against the imported data.

REF is a ``docker save`` tarball, an OCI layout (folder or tar) or a registry reference. Nothing is
stored; a failed scan prints the reason to stderr and exits non-zero.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from scanning import engine, services


def registry_options(reference: str) -> dict[str, Any]:
    """The timeout, and the service credentials and scheme when REF names the store's own registry."""
    options: dict[str, Any] = {"timeout": float(getattr(settings, "SCAN_REGISTRY_TIMEOUT", 30))}
    url = str(getattr(settings, "REGISTRY_URL", "") or "")
    if not url:
        return options
    parts = urlsplit(url if "://" in url else f"https://{url}")
    if not reference.startswith(f"{parts.netloc}/"):
        return options
    options["scheme"] = parts.scheme or "https"
    username = str(getattr(settings, "REGISTRY_SERVICE_USERNAME", "") or "")
    password = str(getattr(settings, "REGISTRY_SERVICE_PASSWORD", "") or "")
    if username and password:
        options.update(username=username, password=password)
    return options


def report(inventory: engine.Inventory, matches: list[services.Match]) -> dict[str, Any]:
    """The JSON shape of issue 4."""
    image = inventory.image
    return {
        "image": {
            "digest": image.manifest_digest or image.config_digest,
            "os": {"family": image.os.family, "version": image.os.version} if image.os else None,
            "layers": [
                {"digest": layer.digest, "diff_id": layer.diff_id, "created_by": layer.created_by}
                for layer in image.layers
            ],
        },
        "packages": [
            {
                "name": c.name,
                "version": c.version,
                "source_name": c.source_name,
                "source_version": c.source_version,
                "ecosystem": c.ecosystem,
                "purl": c.purl,
                "layer_diff_id": c.layer.diff_id if c.layer else None,
            }
            for c in inventory.components
        ],
        "vulnerabilities": [
            {
                "id": m.finding.advisory_id,
                "aliases": list(m.aliases),
                "package": m.finding.component.name,
                "installed_version": m.finding.installed_version,
                "fixed_version": m.finding.fixed_version,
                "cvss_vector": m.finding.score.vector if m.finding.score else None,
                "cvss_score": m.finding.score.base_score if m.finding.score else None,
                "severity": str(m.finding.severity),
            }
            for m in matches
        ],
    }


class Command(BaseCommand):
    help = (
        "Scan an image (tarball, OCI layout or registry reference) against the imported vulnerability data."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "ref", help="A docker save tarball, an OCI layout (folder or tar) or a registry reference."
        )
        parser.add_argument(
            "--platform",
            default=None,
            help="os/arch[/variant] of a multi-platform image (default linux/amd64).",
        )
        parser.add_argument("--format", choices=["json", "table", "cyclonedx"], default="table")

    def handle(self, *args: Any, **options: Any) -> None:
        ref = options["ref"]
        if ref.startswith(("/", "./", "../")) and not os.path.exists(ref):
            raise CommandError(f"scan failed: {ref} does not exist")
        try:
            platform = engine.Platform.parse(options["platform"]) if options["platform"] else None
            with engine.open_source(ref, **registry_options(ref)) as source:
                inventory = engine.scan_source(source, platform=platform)[0]
        except engine.ScanError as exc:
            raise CommandError(f"scan failed: {exc.reason}") from None
        matches = services.match_components(inventory.components)
        if options["format"] == "json":
            self.stdout.write(json.dumps(report(inventory, matches), indent=2))
        elif options["format"] == "cyclonedx":
            self.stdout.write(json.dumps(engine.to_cyclonedx(inventory), indent=2))
        else:
            self._table(inventory, matches)

    def _table(self, inventory: engine.Inventory, matches: list[services.Match]) -> None:
        image = inventory.image
        os_text = f"{image.os.family} {image.os.version}" if image.os else "unknown OS"
        self.stdout.write(f"{image.manifest_digest or image.config_digest}  {os_text}  {image.platform}")
        for layer in image.layers:
            self.stdout.write(f"  layer {layer.index} {layer.diff_id}  {layer.created_by or ''}".rstrip())
        self.stdout.write(f"\n{len(inventory.components)} packages")
        rows = [(c.name, c.version, c.source_name, c.package_type, c.ecosystem) for c in inventory.components]
        self._rows(("NAME", "VERSION", "SOURCE", "TYPE", "ECOSYSTEM"), rows)
        self.stdout.write(f"\n{len(matches)} vulnerabilities")
        vulns = [
            (
                m.cve or m.finding.advisory_id,
                m.finding.component.name,
                m.finding.installed_version,
                m.finding.fixed_version or "-",
                f"{m.finding.score.base_score:.1f}" if m.finding.score else "-",
                str(m.finding.severity),
            )
            for m in matches
        ]
        self._rows(("ID", "PACKAGE", "INSTALLED", "FIXED", "CVSS", "SEVERITY"), vulns)

    def _rows(self, header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> None:
        widths = [max(len(str(v)) for v in column) for column in zip(header, *rows, strict=False)]
        for row in (header, *rows):
            self.stdout.write("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())

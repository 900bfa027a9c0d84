"""npm packages: ``package.json`` directly inside a ``node_modules`` package folder."""

from __future__ import annotations

import json

from scanning.engine.analyzers.base import Analyzer, FoundPackage
from scanning.engine.limits import Limits
from scanning.engine.model import OSInfo


class NpmAnalyzer(Analyzer):
    package_type = "npm"

    def wants(self, path: str, limits: Limits) -> int | None:
        if not path.endswith("/package.json") or "node_modules/" not in path:
            return None
        parts = path.split("/")
        try:
            last = len(parts) - 1 - parts[::-1].index("node_modules")
        except ValueError:
            return None
        rest = parts[last + 1 :]
        # node_modules/name/package.json or node_modules/@scope/name/package.json
        if len(rest) == 2 or (len(rest) == 3 and rest[0].startswith("@")):
            return limits.max_small_file_bytes
        return None

    def parse(self, path: str, data: bytes, layer: int, os: OSInfo | None) -> list[FoundPackage]:
        try:
            doc = json.loads(data)
        except (ValueError, RecursionError):
            return []
        if not isinstance(doc, dict):
            return []
        name, version = doc.get("name"), doc.get("version")
        if not isinstance(name, str) or not isinstance(version, str) or not name or not version:
            return []
        license_field = doc.get("license")
        licenses = (license_field,) if isinstance(license_field, str) and license_field else ()
        return [FoundPackage(name, version, name, version, "npm", path, layer, licenses=licenses)]

"""Alpine's installed database: ``lib/apk/db/installed`` (``usr/lib/apk/db/installed`` on newer)."""

from __future__ import annotations

from scanning.engine.analyzers.base import Analyzer, FoundPackage, text
from scanning.engine.limits import Limits
from scanning.engine.model import OSInfo

APK_DB = frozenset({"lib/apk/db/installed", "usr/lib/apk/db/installed"})


class ApkAnalyzer(Analyzer):
    package_type = "apk"
    database = True

    def wants(self, path: str, limits: Limits) -> int | None:
        return limits.max_file_bytes if path in APK_DB else None

    def parse(self, path: str, data: bytes, layer: int, os: OSInfo | None) -> list[FoundPackage]:
        found = []
        for stanza in _stanzas(text(data)):
            name, version = stanza.get("P", ""), stanza.get("V", "")
            if not name or not version:
                continue  # apk itself skips entries without a version
            origin = stanza.get("o") or name
            licenses = tuple(stanza["L"].split()) if stanza.get("L") else ()
            found.append(
                FoundPackage(
                    name, version, origin, version, "apk", path, layer, stanza.get("A", ""), licenses
                )
            )
        return found


def _stanzas(content: str) -> list[dict[str, str]]:
    stanzas: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for line in content.splitlines():
        if not line.strip():
            if current:
                stanzas.append(current)
                current = {}
            continue
        key, sep, value = line.partition(":")
        if sep and len(key) == 1 and key not in current:
            current[key] = value.strip()
    if current:
        stanzas.append(current)
    return stanzas

"""Alpine's installed database: ``lib/apk/db/installed`` (``usr/lib/apk/db/installed`` on newer)."""

from __future__ import annotations

from collections.abc import Iterator

from scanning.engine.analyzers.base import Analyzer, FoundPackage, lines, text
from scanning.engine.limits import Limits
from scanning.engine.model import OSInfo

APK_DB = frozenset({"lib/apk/db/installed", "usr/lib/apk/db/installed"})


class ApkAnalyzer(Analyzer):
    package_type = "apk"
    database = True

    def wants(self, path: str, limits: Limits) -> int | None:
        return limits.max_file_bytes if path in APK_DB else None

    def parse(self, path: str, data: bytes, layer: int, os: OSInfo | None) -> Iterator[FoundPackage]:
        for stanza in _stanzas(text(data)):
            name, version = stanza.get("P", ""), stanza.get("V", "")
            if not name or not version:
                continue  # apk itself skips entries without a version
            origin = stanza.get("o") or name
            licenses = tuple(stanza["L"].split()) if stanza.get("L") else ()
            yield FoundPackage(
                name, version, origin, version, "apk", path, layer, stanza.get("A", ""), licenses
            )


_KEPT = frozenset("PVoLA")  # the fields read above; file lists (F:, R:, Z: ...) are not kept


def _stanzas(content: str) -> Iterator[dict[str, str]]:
    current: dict[str, str] = {}
    for line in lines(content):
        if not line.strip():
            if current:
                yield current
                current = {}
            continue
        key, sep, value = line.partition(":")
        if sep and key in _KEPT and key not in current:
            current[key] = value.strip()
    if current:
        yield current

"""Debian and Ubuntu: ``var/lib/dpkg/status`` and distroless ``var/lib/dpkg/status.d/*``."""

from __future__ import annotations

import re
from collections.abc import Iterator

from scanning.engine.analyzers.base import Analyzer, FoundPackage, lines, text
from scanning.engine.limits import Limits
from scanning.engine.model import OSInfo

STATUS = "var/lib/dpkg/status"
STATUS_D = "var/lib/dpkg/status.d/"
_SOURCE = re.compile(r"^(?P<name>\S+)(?:\s+\((?P<version>[^)]+)\))?\s*$")


class DpkgAnalyzer(Analyzer):
    package_type = "deb"
    database = True

    def wants(self, path: str, limits: Limits) -> int | None:
        if path == STATUS:
            return limits.max_file_bytes
        if path.startswith(STATUS_D) and "/" not in path[len(STATUS_D) :]:
            # distroless writes one stanza per package, plus .md5sums files we do not need
            return None if path.endswith(".md5sums") else limits.max_small_file_bytes
        return None

    def parse(self, path: str, data: bytes, layer: int, os: OSInfo | None) -> Iterator[FoundPackage]:
        in_status_d = path != STATUS
        for stanza in parse_control(text(data)):
            name, version = stanza.get("package", ""), stanza.get("version", "")
            if not name or not version:
                continue
            status = stanza.get("status")
            # status.d files have no Status field: they describe installed packages only
            if status is not None and status.split() != ["install", "ok", "installed"]:
                continue
            if status is None and not in_status_d:
                continue
            source_name, source_version = name, version
            match = _SOURCE.match(stanza.get("source", ""))
            if match:
                source_name = match["name"]
                source_version = match["version"] or version
            yield FoundPackage(
                name,
                version,
                source_name,
                source_version,
                "deb",
                path,
                layer,
                stanza.get("architecture", ""),
            )


# Continuation lines of these fields (file lists, long descriptions) are never read: not kept.
_KEPT = frozenset({"package", "status", "version", "source", "architecture"})


def parse_control(content: str) -> Iterator[dict[str, str]]:
    """RFC 822-style stanzas, one at a time; field names lower-cased; continuation lines joined."""
    current: dict[str, str] = {}
    last_key = ""
    for line in lines(content):
        if not line.strip():
            if current:
                yield current
                current, last_key = {}, ""
            continue
        if line[0] in " \t":
            if last_key in current:
                current[last_key] += "\n" + line.strip()
            continue
        key, sep, value = line.partition(":")
        if sep:
            last_key = key.strip().lower()
            if last_key in _KEPT:
                current[last_key] = value.strip()
    if current:
        yield current

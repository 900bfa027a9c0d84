"""Python distributions: ``*.dist-info/METADATA`` and ``*.egg-info/PKG-INFO`` (or an ``.egg-info`` file)."""

from __future__ import annotations

import re
from email.parser import HeaderParser

from scanning.engine.analyzers.base import Analyzer, FoundPackage, text
from scanning.engine.limits import Limits
from scanning.engine.model import OSInfo

_NORMALISE = re.compile(r"[-_.]+")


def normalise_name(name: str) -> str:
    """PEP 503: runs of ``-``, ``_`` and ``.`` are one ``-``, lower case."""
    return _NORMALISE.sub("-", name).lower()


class PythonAnalyzer(Analyzer):
    package_type = "pypi"

    def wants(self, path: str, limits: Limits) -> int | None:
        if (
            path.endswith(".dist-info/METADATA")
            or path.endswith(".egg-info/PKG-INFO")
            or path.endswith(".egg-info")
        ):
            return limits.max_small_file_bytes
        return None

    def parse(self, path: str, data: bytes, layer: int, os: OSInfo | None) -> list[FoundPackage]:
        # Only the headers matter; the body (long description) can be large and is ignored.
        head = text(data).split("\n\n", 1)[0]
        headers = HeaderParser().parsestr(head)
        name, version = headers.get("Name"), headers.get("Version")
        if not name or not version:
            return []
        name, version = normalise_name(str(name).strip()), str(version).strip()
        license_field = str(headers.get("License-Expression") or headers.get("License") or "").strip()
        licenses = (
            (license_field,)
            if license_field and "\n" not in license_field and len(license_field) < 100
            else ()
        )
        return [FoundPackage(name, version, name, version, "pypi", path, layer, licenses=licenses)]

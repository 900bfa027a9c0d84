"""Version order per ecosystem: apk (our own), dpkg and RPM and PEP 440 and semver (univers)."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from univers import versions as uv

from scanning.engine import apkversion

Comparer = Callable[[str, str], int]


class VersionError(ValueError):
    """A version this ecosystem cannot order."""


def _univers(cls: Any) -> Comparer:
    @lru_cache(maxsize=65536)
    def parse(text: str) -> Any:
        try:
            return cls(text)
        except Exception as exc:  # univers raises several types for a bad version
            raise VersionError(f"{text!r} is not a valid {cls.__name__}") from exc

    def compare(a: str, b: str) -> int:
        left, right = parse(a), parse(b)
        return (left > right) - (left < right)

    return compare


def _apk(a: str, b: str) -> int:
    for version in (a, b):
        if not apkversion.is_valid(version):
            raise VersionError(f"{version!r} is not a valid Alpine version")
    return apkversion.compare(a, b)


def _semver(a: str, b: str) -> int:
    return _SEMVER(a.lstrip("v="), b.lstrip("v="))


_DPKG = _univers(uv.DebianVersion)
_RPM = _univers(uv.RpmVersion)
_PEP440 = _univers(uv.PypiVersion)
_SEMVER = _univers(uv.SemverVersion)

_BY_SCHEME: dict[str, Comparer] = {
    "apk": _apk,
    "dpkg": _DPKG,
    "rpm": _RPM,
    "pep440": _PEP440,
    "semver": _semver,
}
_SCHEME_BY_ECOSYSTEM = {
    "Alpine": "apk",
    "Debian": "dpkg",
    "Ubuntu": "dpkg",
    "AlmaLinux": "rpm",
    "Rocky Linux": "rpm",
    "Red Hat": "rpm",
    "openSUSE": "rpm",
    "SUSE": "rpm",
    "Mageia": "rpm",
    "PyPI": "pep440",
    "npm": "semver",
}


def scheme_for(ecosystem: str) -> str | None:
    """``Alpine:v3.11`` -> ``apk``; None for ecosystems we cannot order."""
    return _SCHEME_BY_ECOSYSTEM.get(ecosystem.split(":", 1)[0])


def comparer(scheme: str) -> Comparer:
    return _BY_SCHEME[scheme]


def compare(ecosystem: str, a: str, b: str) -> int:
    """-1, 0, 1 in the ecosystem's own order; VersionError when a version cannot be ordered."""
    scheme = scheme_for(ecosystem)
    if scheme is None:
        raise VersionError(f"no version order known for ecosystem {ecosystem!r}")
    return _BY_SCHEME[scheme](a, b)

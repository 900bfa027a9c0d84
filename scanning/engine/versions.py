"""Version order per ecosystem: apk (our own), dpkg and RPM and PEP 440 and semver (univers)."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from univers import debian as udebian
from univers import versions as uv

from scanning.engine import apkversion

Comparer = Callable[[str, str], int]


class VersionError(ValueError):
    """A version this ecosystem cannot order."""


def _univers(cls: Any, three_way: Callable[[Any, Any], int] | None = None) -> Comparer:
    """A comparer over univers' parsing and order.

    A univers version orders by its ``value`` alone (the only attrs field with ``order=True``), so
    the parsed ``value`` is cached and compared directly, once: going through the attrs wrappers
    built two tuples per operator and asked both ``>`` and ``<``. ``three_way`` is univers' own
    -1/0/1 function where it has one (dpkg), saving the second comparison.
    """

    @lru_cache(maxsize=65536)
    def parse(text: str) -> Any:
        try:
            return cls(text).value
        except Exception as exc:  # univers raises several types for a bad version
            raise VersionError(f"{text!r} is not a valid {cls.__name__}") from exc

    if three_way is not None:
        order = three_way

        def compare_three_way(a: str, b: str) -> int:
            return int(order(parse(a), parse(b)))

        return compare_three_way

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


_DPKG = _univers(uv.DebianVersion, udebian.compare_version_objects)
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

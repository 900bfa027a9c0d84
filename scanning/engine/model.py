"""What the engine hands back: frozen dataclasses, no behaviour beyond small conveniences."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from scanning.engine.errors import ScanError


class Severity(StrEnum):
    """The store's classification (seed README): Critical 7.0-10.0, Major 4.0-6.9, Minor 0.1-3.9.

    Outside the table: ``NONE`` for a base score of 0.0 (CVSS's own "None" rating: no impact, so no
    class and no SLA) and ``UNKNOWN`` when there is no usable score at all.
    """

    CRITICAL = "critical"
    MAJOR = "major"
    MINOR = "minor"
    NONE = "none"
    UNKNOWN = "unknown"


class FixState(StrEnum):
    FIXED = "fixed"  # affected, and a fixed version exists
    NOT_FIXED = "not-fixed"  # affected, no fix published yet
    NOT_AFFECTED = "not-affected"  # the record names the package but this version is safe


@dataclass(frozen=True)
class Platform:
    os: str = "linux"
    architecture: str = "amd64"
    variant: str | None = None

    @classmethod
    def parse(cls, text: str) -> Platform:
        """``linux/arm64/v8`` -> Platform("linux", "arm64", "v8")."""
        parts = [p for p in text.strip().split("/") if p]
        if not 2 <= len(parts) <= 3:
            raise ScanError(f"platform {text!r} is not os/architecture[/variant]")
        return cls(parts[0], parts[1], parts[2] if len(parts) == 3 else None)

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)

    def matches(self, other: Platform) -> bool:
        if (self.os, self.architecture) != (other.os, other.architecture):
            return False
        return self.variant is None or other.variant is None or self.variant == other.variant


@dataclass(frozen=True)
class Layer:
    """One filesystem layer of an image, bottom first (index 0)."""

    index: int
    digest: str  # of the blob as stored (compressed); equals diff_id for plain tars
    diff_id: str  # sha256 of the uncompressed tar, from the image config
    media_type: str
    size: int | None
    created_by: str | None  # the history line of the Dockerfile step, when the config has one


@dataclass(frozen=True)
class OSInfo:
    family: str  # os-release ID: alpine, debian, ubuntu, rhel, ...
    version: str  # VERSION_ID or the release file: 3.11.5, 11, 22.04
    name: str = ""  # PRETTY_NAME
    codename: str = ""


@dataclass(frozen=True)
class Component:
    """A package found in the final filesystem."""

    name: str
    version: str
    source_name: str
    source_version: str
    package_type: str  # apk, deb, rpm, pypi, npm
    ecosystem: str  # the OSV ecosystem: Alpine:v3.11, Debian:12, PyPI, npm ("" when unknown)
    purl: str
    path: str  # the file it was read from
    layer: Layer | None  # the layer that introduced it
    arch: str = ""
    licenses: tuple[str, ...] = ()


@dataclass(frozen=True)
class ImageInfo:
    manifest_digest: str | None
    config_digest: str  # the image id
    platform: Platform
    layers: tuple[Layer, ...]
    os: OSInfo | None
    repo_tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Inventory:
    """Everything read from one image: enough to re-match later without pulling it again."""

    image: ImageInfo
    components: tuple[Component, ...]
    warnings: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class Score:
    version: str  # "3.1", "4.0", "2.0"
    vector: str
    base_score: float


@dataclass(frozen=True)
class Finding:
    advisory_id: str
    aliases: tuple[str, ...]
    component: Component
    installed_version: str  # the version compared (source version for OS packages)
    fixed_version: str | None
    fix_state: FixState
    score: Score | None
    severity: Severity
    summary: str = ""

    @property
    def cve_ids(self) -> tuple[str, ...]:
        ids = (self.advisory_id, *self.aliases)
        return tuple(dict.fromkeys(i for i in ids if i.startswith("CVE-")))

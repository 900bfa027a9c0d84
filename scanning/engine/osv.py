"""OSV records (the osv.dev schema), an index by (ecosystem, package), and matching components.

Debian and Alpine records name the SOURCE package, so OS packages are looked up by their source
name and compared by their source version (falling back to the binary version), as Trivy does.
"""

from __future__ import annotations

import functools
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from scanning.engine.model import Component, Finding, FixState, Severity
from scanning.engine.scoring import best_score, classify
from scanning.engine.versions import VersionError, comparer, scheme_for

_PEP503 = re.compile(r"[-_.]+")
MAX_RECORD_BYTES = 8 * 1024 * 1024


class OSVError(ValueError):
    """A record that does not follow the OSV schema closely enough to be used."""


@dataclass(frozen=True)
class Event:
    kind: str  # introduced, fixed, last_affected, limit
    version: str


@dataclass(frozen=True)
class Range:
    type: str  # ECOSYSTEM, SEMVER (GIT ranges are kept but not evaluated)
    events: tuple[Event, ...]


@dataclass(frozen=True)
class Affected:
    ecosystem: str
    name: str
    purl: str
    ranges: tuple[Range, ...]
    versions: tuple[str, ...]
    severities: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Advisory:
    id: str
    aliases: tuple[str, ...]
    summary: str
    modified: str
    withdrawn: str | None
    severities: tuple[tuple[str, str], ...]  # (type, vector)
    affected: tuple[Affected, ...]


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def _string(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _severities(value: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, list):
        return ()
    return tuple(
        (s["type"], s["score"])
        for s in value
        if isinstance(s, dict) and isinstance(s.get("type"), str) and isinstance(s.get("score"), str)
    )


def parse_advisory(doc: Any) -> Advisory:
    """One OSV record from its parsed JSON; OSVError when it is unusable."""
    if not isinstance(doc, dict):
        raise OSVError("the record is not a JSON object")
    record_id = doc.get("id")
    if not isinstance(record_id, str) or not record_id:
        raise OSVError("the record has no id")
    affected = []
    for i, raw in enumerate(doc.get("affected") or []):
        if not isinstance(raw, dict):
            raise OSVError(f"{record_id}: affected[{i}] is not an object")
        package = raw.get("package") or {}
        if not isinstance(package, dict):
            raise OSVError(f"{record_id}: affected[{i}].package is not an object")
        ecosystem, name = package.get("ecosystem"), package.get("name")
        if not isinstance(ecosystem, str) or not isinstance(name, str) or not ecosystem or not name:
            continue  # e.g. GIT-only entries with no package
        ranges = []
        for raw_range in raw.get("ranges") or []:
            if not isinstance(raw_range, dict) or not isinstance(raw_range.get("type"), str):
                raise OSVError(f"{record_id}: a range of {name} has no type")
            events = []
            for event in raw_range.get("events") or []:
                if not isinstance(event, dict) or len(event) != 1:
                    raise OSVError(f"{record_id}: a range event of {name} is malformed")
                ((kind, version),) = event.items()
                if kind not in ("introduced", "fixed", "last_affected", "limit") or not isinstance(
                    version, str
                ):
                    raise OSVError(f"{record_id}: unknown range event {kind!r}")
                events.append(Event(kind, version))
            ranges.append(Range(raw_range["type"], tuple(events)))
        affected.append(
            Affected(
                ecosystem=ecosystem,
                name=name,
                purl=_string(package.get("purl")),
                ranges=tuple(ranges),
                versions=_strings(raw.get("versions")),
                severities=_severities(raw.get("severity")),
            )
        )
    withdrawn = doc.get("withdrawn")
    return Advisory(
        id=record_id,
        aliases=_strings(doc.get("aliases")),
        summary=_string(doc.get("summary")),
        modified=_string(doc.get("modified")),
        withdrawn=withdrawn if isinstance(withdrawn, str) and withdrawn else None,
        severities=_severities(doc.get("severity")),
        affected=tuple(affected),
    )


def load_advisory(data: bytes) -> Advisory:
    if len(data) > MAX_RECORD_BYTES:
        raise OSVError(f"the record is larger than {MAX_RECORD_BYTES} bytes")
    try:
        return parse_advisory(json.loads(data))
    except (ValueError, RecursionError) as exc:
        if isinstance(exc, OSVError):
            raise
        raise OSVError(f"the record is not valid JSON: {exc}") from None


def normalize_ecosystem(ecosystem: str) -> str:
    """``Ubuntu:22.04:LTS`` and ``Ubuntu:22.04`` are the same release for matching."""
    if ecosystem.startswith("Ubuntu:") and ecosystem.endswith(":LTS"):
        return ecosystem[: -len(":LTS")]
    return ecosystem


def normalize_name(ecosystem: str, name: str) -> str:
    if ecosystem == "PyPI":
        return _PEP503.sub("-", name).lower()
    return name


def _key(ecosystem: str, name: str) -> tuple[str, str]:
    ecosystem = normalize_ecosystem(ecosystem)
    return ecosystem, normalize_name(ecosystem, name)


def lookup_name_and_version(component: Component) -> tuple[str, str]:
    """OS records name source packages (Debian, Alpine); language ecosystems the package itself."""
    if component.package_type in ("deb", "apk"):
        return component.source_name or component.name, component.source_version or component.version
    return component.name, component.version


@dataclass(frozen=True)
class Evaluation:
    state: FixState
    fixed_version: str | None


def evaluate(version: str, affected: Affected, ecosystem: str) -> Evaluation:
    """Is ``version`` affected according to one ``affected[]`` entry?"""
    scheme = scheme_for(ecosystem)
    if version in affected.versions:
        return (
            Evaluation(FixState.NOT_FIXED, None) if scheme is None else _with_fix(version, affected, scheme)
        )
    if scheme is None:
        return Evaluation(FixState.NOT_AFFECTED, None)
    return _with_fix(version, affected, scheme, listed=False)


def _with_fix(version: str, affected: Affected, scheme: str, listed: bool = True) -> Evaluation:
    compare = comparer(scheme)
    hit = listed
    fixes: list[str] = []
    for version_range in affected.ranges:
        if version_range.type not in ("ECOSYSTEM", "SEMVER"):
            continue
        try:
            in_range, fixed = _in_range(version, version_range.events, compare)
        except VersionError:
            continue
        if in_range:
            hit = True
            if fixed is not None:
                fixes.append(fixed)
    if not hit:
        return Evaluation(FixState.NOT_AFFECTED, None)
    if not fixes:
        return Evaluation(FixState.NOT_FIXED, None)
    fixed_version = fixes[0]
    for candidate in fixes[1:]:
        if compare(candidate, fixed_version) < 0:
            fixed_version = candidate
    return Evaluation(FixState.FIXED, fixed_version)


def _in_range(version: str, events: Sequence[Event], compare: Any) -> tuple[bool, str | None]:
    """OSV's range evaluation: the last event at or below the version decides; fixed '0' is never affected."""
    limits = [e.version for e in events if e.kind == "limit" and e.version != "*"]
    if limits and not any(compare(version, limit) < 0 for limit in limits):
        return False, None
    ordered = [e for e in events if e.kind != "limit"]
    if any(e.kind == "fixed" and e.version == "0" for e in ordered):
        return False, None

    def position(event: Event) -> tuple[int, Any]:
        return (0, 0) if event.kind == "introduced" and event.version == "0" else (1, event.version)

    def cmp_events(a: Event, b: Event) -> int:
        pa, pb = position(a), position(b)
        if pa[0] != pb[0]:
            return pa[0] - pb[0]
        if pa[0] == 0:
            return 0
        result = compare(a.version, b.version)
        if result:
            return int(result)
        # on a tie an introduced event comes first, so a fix at the same version wins
        return (a.kind != "introduced") - (b.kind != "introduced")

    ordered.sort(key=functools.cmp_to_key(cmp_events))
    affected = False
    for event in ordered:
        if event.kind == "introduced":
            if event.version == "0" or compare(version, event.version) >= 0:
                affected = True
        elif event.kind == "fixed":
            if compare(version, event.version) >= 0:
                affected = False
        elif event.kind == "last_affected" and compare(version, event.version) > 0:
            affected = False
    if not affected:
        return False, None
    fixed = next(
        (e.version for e in ordered if e.kind == "fixed" and compare(version, e.version) < 0),
        None,
    )
    return True, fixed


class AdvisoryIndex:
    """Advisories indexed by (ecosystem, package name): one dict lookup per component."""

    def __init__(self, advisories: Iterable[Advisory] = ()) -> None:
        self._by_package: dict[tuple[str, str], list[tuple[Advisory, Affected]]] = defaultdict(list)
        self.count = 0
        for advisory in advisories:
            self.add(advisory)

    def add(self, advisory: Advisory) -> None:
        if advisory.withdrawn:
            return
        self.count += 1
        for affected in advisory.affected:
            self._by_package[_key(affected.ecosystem, affected.name)].append((advisory, affected))

    def candidates(self, ecosystem: str, name: str) -> list[tuple[Advisory, Affected]]:
        return self._by_package.get(_key(ecosystem, name), [])

    def match(
        self,
        components: Iterable[Component],
        *,
        overrides: Mapping[str, Severity] | None = None,
        include_not_affected: bool = False,
    ) -> list[Finding]:
        """Findings for every component an advisory affects. ``overrides`` maps an advisory id or
        alias (CVE) to the severity the security team chose; it wins over the score."""
        overrides = overrides or {}
        findings: list[Finding] = []
        for component in components:
            if not component.ecosystem:
                continue
            name, version = lookup_name_and_version(component)
            seen: set[str] = set()
            for advisory, affected in self.candidates(component.ecosystem, name):
                if advisory.id in seen:
                    continue
                result = evaluate(version, affected, component.ecosystem)
                if result.state is FixState.NOT_AFFECTED and not include_not_affected:
                    continue
                seen.add(advisory.id)
                score = best_score((*affected.severities, *advisory.severities))
                override = next(
                    (overrides[i] for i in (advisory.id, *advisory.aliases) if i in overrides),
                    None,
                )
                findings.append(
                    Finding(
                        advisory_id=advisory.id,
                        aliases=advisory.aliases,
                        component=component,
                        installed_version=version,
                        fixed_version=result.fixed_version,
                        fix_state=result.state,
                        score=score,
                        severity=classify(score.base_score if score else None, override),
                        summary=advisory.summary,
                    )
                )
        return findings

"""Writes of the scanning app: importing vulnerability data, requesting and running scans, matching.

Only this module and ``tasks.py`` call the engine (``scanning.engine``), and only through its public
entry module. Scans are queued after the transaction that asked for them commits.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import re
import zipfile
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from audit.models import EventType
from audit.services import record
from scanning import engine
from scanning.models import (
    ACTIVE_STATES,
    Advisory,
    AffectedPackage,
    Component,
    Finding,
    Layer,
    Scan,
    ScanSource,
    ScanStatus,
    SeverityOverride,
    package_key,
)

if TYPE_CHECKING:
    from accounts.models import User
    from listings.models import Revision, Tier
    from publishers.models import Publisher

logger = logging.getLogger(__name__)

# One OSV record is a few KB; osv.dev's largest are well under a megabyte.
MAX_RECORD_BYTES = 8 * 1024 * 1024
# Beyond this many changed packages a re-match of every stored inventory is cheaper to find.
MAX_KEYS_FOR_TARGETED_REMATCH = 500
NO_REGISTRY = "no registry configured"


# ---------------------------------------------------------------------------------------------
# Vulnerability data


@dataclass
class ImportReport:
    added: int = 0
    changed: int = 0
    unchanged: int = 0
    refused: list[tuple[str, str]] = field(default_factory=list)  # (file name, reason)
    rematch_scan_ids: list[int] = field(default_factory=list)

    @property
    def changed_data(self) -> bool:
        return bool(self.added or self.changed)


def _read_records(path: Path) -> Iterator[tuple[str, bytes | str]]:
    """(file name, content) for every ``.json`` in a folder or zip; content is a reason when unreadable."""
    if path.is_dir():
        for file in sorted(path.rglob("*.json")):
            name = str(file.relative_to(path))
            try:
                size = file.stat().st_size
                if size > MAX_RECORD_BYTES:
                    yield name, f"the file is larger than {MAX_RECORD_BYTES} bytes"
                    continue
                yield name, file.read_bytes()
            except OSError as exc:
                yield name, f"cannot be read: {exc.strerror or exc}"
        return
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ValidationError(f"{path.name} is neither a folder nor a readable zip file: {exc}") from None
    with archive:
        for info in sorted(archive.infolist(), key=lambda i: i.filename):
            if info.is_dir() or not info.filename.endswith(".json"):
                continue
            if info.file_size > MAX_RECORD_BYTES:
                yield info.filename, f"the file is larger than {MAX_RECORD_BYTES} bytes"
                continue
            try:
                with archive.open(info) as stream:
                    # The header's size may lie (a zip bomb): read one byte past the limit at most.
                    data = stream.read(MAX_RECORD_BYTES + 1)
            except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError) as exc:
                yield info.filename, f"cannot be read from the zip: {exc}"
                continue
            if len(data) > MAX_RECORD_BYTES:
                yield info.filename, f"the file is larger than {MAX_RECORD_BYTES} bytes"
                continue
            yield info.filename, data


_FRACTION = re.compile(r"\.(\d{6})\d+")


def parse_timestamp(value: Any) -> datetime | None:
    """An OSV RFC 3339 time; osv.dev writes nanoseconds, which Python's parser does not take."""
    if not isinstance(value, str) or not value:
        return None
    text = _FRACTION.sub(r".\1", value.strip())
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise engine.OSVError(f"the time {value!r} is not an RFC 3339 timestamp") from None
    if timezone.is_naive(parsed):
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


@dataclass(frozen=True)
class _Record:
    doc: dict[str, Any]
    parsed: engine.Advisory
    modified: datetime | None
    withdrawn: datetime | None
    content_hash: str


def _parse_record(data: bytes) -> _Record:
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise engine.OSVError(f"not valid JSON: {exc}") from None
    parsed = engine.parse_advisory(doc)
    if not parsed.affected:
        raise engine.OSVError(f"{parsed.id}: names no package (ecosystem and name) to match")
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    return _Record(
        doc=doc,
        parsed=parsed,
        modified=parse_timestamp(doc.get("modified")),
        withdrawn=parse_timestamp(doc.get("withdrawn")),
        content_hash=hashlib.sha256(canonical).hexdigest(),
    )


def _advisory_fields(item: _Record, source: str) -> dict[str, Any]:
    parsed = item.parsed
    return {
        "aliases": list(parsed.aliases),
        "upstream": _strings(item.doc.get("upstream")),
        "summary": parsed.summary or str(item.doc.get("details") or "")[:500],
        "modified": item.modified,
        "withdrawn": item.withdrawn,
        "severity": [[kind, vector] for kind, vector in parsed.severities],
        "raw": item.doc,
        "content_hash": item.content_hash,
        "source": source[:300],
    }


def _package_rows(advisory: Advisory, parsed: engine.Advisory) -> list[AffectedPackage]:
    keys = {package_key(a.ecosystem, a.name) for a in parsed.affected}
    return [AffectedPackage(advisory=advisory, ecosystem=e, name=n) for e, n in sorted(keys)]


def advisories_import(
    *, path: str | os.PathLike[str], actor: User | None = None, rematch: bool = True
) -> ImportReport:
    """Import OSV records from a folder (ecosystem sub-folders allowed) or a zip of them.

    Idempotent and incremental: a record whose ``modified`` time is not newer than the stored one,
    or whose content is the same, is left alone. A bad record is refused with its file name and
    reason and the import goes on. When anything changed, the stored inventories that name an
    affected package are re-matched after commit, without pulling their images again.
    """
    location = Path(path)
    if not location.exists():
        raise ValidationError(f"{location} does not exist.")
    report = ImportReport()
    known = {
        osv_id: (pk, modified, content_hash)
        for osv_id, pk, modified, content_hash in Advisory.objects.values_list(
            "osv_id", "pk", "modified", "content_hash"
        )
    }
    touched: set[tuple[str, str]] = set()
    now = timezone.now()
    for name, content in _read_records(location):
        if isinstance(content, str):
            report.refused.append((name, content))
            continue
        try:
            item = _parse_record(content)
        except engine.OSVError as exc:
            report.refused.append((name, str(exc)))
            continue
        osv_id = item.parsed.id
        if len(osv_id) > 200:
            report.refused.append((name, "the id is longer than 200 characters"))
            continue
        stored = known.get(osv_id)
        if stored is not None:
            _, stored_modified, stored_hash = stored
            stale = (
                item.modified is not None and stored_modified is not None and item.modified <= stored_modified
            )
            if stored_hash == item.content_hash or stale:
                report.unchanged += 1
                continue
        try:
            with transaction.atomic():
                fields = _advisory_fields(item, name)
                if stored is None:
                    advisory = Advisory.objects.create(
                        osv_id=osv_id, imported_at=now, updated_at=now, **fields
                    )
                    report.added += 1
                else:
                    advisory = Advisory.objects.get(pk=stored[0])
                    old_keys = set(advisory.packages.values_list("ecosystem", "name"))
                    touched.update(old_keys)
                    for attr, value in fields.items():
                        setattr(advisory, attr, value)
                    advisory.updated_at = now
                    advisory.save()
                    advisory.packages.all().delete()
                    report.changed += 1
                rows = _package_rows(advisory, item.parsed)
                AffectedPackage.objects.bulk_create(rows)
        except (IntegrityError, ValueError) as exc:  # e.g. a NUL character PostgreSQL refuses
            report.refused.append((name, f"cannot be stored: {exc}"))
            continue
        touched.update((row.ecosystem, row.name) for row in rows)
        known[osv_id] = (advisory.pk, advisory.modified, advisory.content_hash)
    if report.changed_data:
        record(
            event_type=EventType.ADVISORIES_IMPORTED,
            actor=actor,
            data={
                "source": location.name,
                "added": report.added,
                "changed": report.changed,
                "unchanged": report.unchanged,
                "refused": len(report.refused),
            },
        )
        if rematch:
            report.rematch_scan_ids = scans_to_rematch(touched)
            queue_rematch(report.rematch_scan_ids)
    return report


def scans_to_rematch(keys: set[tuple[str, str]] | None) -> list[int]:
    """Finished scans holding a component one of the (ecosystem, package) keys names; all when None."""
    scans = Scan.objects.filter(status=ScanStatus.DONE)
    if keys is not None and len(keys) <= MAX_KEYS_FOR_TARGETED_REMATCH:
        if not keys:
            return []
        by_ecosystem: dict[str, set[str]] = defaultdict(set)
        for ecosystem, name in keys:
            by_ecosystem[ecosystem].add(name)
        condition = Q()
        for ecosystem, names in by_ecosystem.items():
            condition |= Q(ecosystem=ecosystem) & (Q(name__in=names) | Q(source_name__in=names))
        ids = Component.objects.filter(condition, scan__status=ScanStatus.DONE).values("scan_id")
        scans = scans.filter(pk__in=ids)
    return list(scans.order_by("pk").values_list("pk", flat=True))


def queue_rematch(scan_ids: Sequence[int]) -> None:
    from scanning import tasks

    for scan_id in scan_ids:
        transaction.on_commit(functools.partial(tasks.rematch_scan.delay, scan_id))


# ---------------------------------------------------------------------------------------------
# Severity overrides


def severity_overrides() -> dict[str, engine.Severity]:
    return {
        identifier: engine.Severity(severity)
        for identifier, severity in SeverityOverride.objects.values_list("identifier", "severity")
    }


def _scans_naming(identifier: str) -> list[int]:
    return list(
        Finding.objects.filter(
            Q(advisory_id=identifier) | Q(cve=identifier) | Q(aliases__icontains=json.dumps(identifier))
        )
        .values_list("scan_id", flat=True)
        .distinct()
    )


@transaction.atomic
def severity_override_set(
    *, actor: User | None, identifier: str, severity: str, reason: str
) -> SeverityOverride:
    """The security team classifies one vulnerability; findings naming it are re-matched."""
    identifier = identifier.strip()
    if not identifier:
        raise ValidationError({"identifier": ["Name the advisory or CVE."]})
    if not reason.strip():
        raise ValidationError({"reason": ["Say why the severity differs from the score."]})
    override, _ = SeverityOverride.objects.update_or_create(
        identifier=identifier, defaults={"severity": severity, "reason": reason.strip(), "author": actor}
    )
    record(
        event_type=EventType.SEVERITY_OVERRIDDEN,
        actor=actor,
        target=override,
        data={"identifier": identifier, "severity": severity, "reason": override.reason},
    )
    queue_rematch(_scans_naming(identifier))
    return override


@transaction.atomic
def severity_override_remove(*, actor: User | None, override: SeverityOverride) -> None:
    identifier = override.identifier
    record(
        event_type=EventType.SEVERITY_OVERRIDE_REMOVED,
        actor=actor,
        target=override,
        data={"identifier": identifier, "severity": override.severity},
    )
    override.delete()
    queue_rematch(_scans_naming(identifier))


# ---------------------------------------------------------------------------------------------
# Matching


@dataclass(frozen=True)
class Match:
    """An engine finding with what the store adds: every CVE the record names."""

    finding: engine.Finding
    aliases: tuple[str, ...]
    cve: str
    overridden: bool


def _lookup_keys(components: Iterable[engine.Component]) -> dict[str, set[str]]:
    keys: dict[str, set[str]] = defaultdict(set)
    for component in components:
        if not component.ecosystem:
            continue
        for name in {component.name, component.source_name}:
            if name:
                ecosystem, key = package_key(component.ecosystem, name)
                keys[ecosystem].add(key)
    return keys


def match_components(
    components: Sequence[engine.Component], overrides: dict[str, engine.Severity] | None = None
) -> list[Match]:
    """Findings for ``components`` against the stored advisories naming one of their packages.

    One query per ecosystem finds the candidate advisories (through the (ecosystem, name) index);
    the engine does the version comparison, scoring and classification.
    """
    keys = _lookup_keys(components)
    if not keys:
        return []
    condition = Q()
    for ecosystem, names in keys.items():
        condition |= Q(packages__ecosystem=ecosystem, packages__name__in=names)
    rows = list(
        Advisory.objects.filter(condition, withdrawn__isnull=True)
        .distinct()
        .only("osv_id", "raw", "upstream")
    )
    upstream: dict[str, list[str]] = {}
    advisories = []
    for row in rows:
        try:
            advisories.append(engine.parse_advisory(row.raw))
        except engine.OSVError:  # stored before a stricter parser; refused now, as on import
            logger.warning("advisory %s no longer parses; skipped", row.osv_id)
            continue
        upstream[row.osv_id] = list(row.upstream)
    if overrides is None:
        overrides = severity_overrides()
    matches = []
    for finding in engine.AdvisoryIndex(advisories).match(components, overrides=overrides):
        aliases = tuple(dict.fromkeys([*finding.aliases, *upstream.get(finding.advisory_id, [])]))
        cves = [i for i in (finding.advisory_id, *aliases) if i.startswith("CVE-")]
        overridden = any(i in overrides for i in (finding.advisory_id, *finding.aliases))
        matches.append(Match(finding, aliases, cves[0] if cves else "", overridden))
    return matches


# ---------------------------------------------------------------------------------------------
# Scans


def _tier_context(tier: Tier | None, revision: Revision | None) -> dict[str, Any]:
    if tier is None and revision is None:
        return {}
    revision = revision or (tier.revision if tier is not None else None)
    assert revision is not None
    product = revision.product
    return {
        "publisher_id": product.publisher_id,
        "product": product,
        "revision": revision,
        "tier": tier,
        "tier_key": tier.key if tier is not None else None,
    }


def scan_request(
    *,
    reference: str,
    tier: Tier | None = None,
    revision: Revision | None = None,
    requested_by: User | None = None,
    source: str = ScanSource.REGISTRY,
    platform: str = "linux/amd64",
    publisher: Publisher | None = None,
) -> Scan:
    """Queue a scan of ``reference`` (a staging ``namespace/repo:tag``, or a path for ``source="path"``).

    The scan belongs to the tier's publisher, else to ``publisher`` (an on-demand scan).
    Idempotent while a scan of the same reference for the same publisher is queued or running: that
    scan is returned instead of a second one. The task is queued when the transaction commits.
    """
    from scanning import tasks

    reference = reference.strip()
    if not reference:
        raise ValidationError({"reference": ["Name the image to scan."]})
    if source not in ScanSource.values:
        raise ValidationError({"source": [f"Unknown source {source!r}."]})
    try:
        engine.Platform.parse(platform)
    except engine.ScanError as exc:
        raise ValidationError({"platform": [exc.reason]}) from None
    context = _tier_context(tier, revision)
    if not context and publisher is not None:
        context = {"publisher_id": publisher.pk}
    publisher_id = context.get("publisher_id")
    owner: dict[str, Any] = {"publisher_id": publisher_id} if publisher_id else {"publisher__isnull": True}
    with transaction.atomic():
        active = Scan.objects.filter(
            source=source, reference=reference, status__in=ACTIVE_STATES, **owner
        ).first()
        if active is not None:
            return active
        try:
            with transaction.atomic():
                scan = Scan.objects.create(
                    source=source,
                    reference=reference,
                    platform=platform,
                    requested_by=requested_by,
                    **context,
                )
        except IntegrityError:  # a concurrent request won the race (the partial unique constraint)
            return Scan.objects.get(source=source, reference=reference, status__in=ACTIVE_STATES, **owner)
        record(
            event_type=EventType.SCAN_REQUESTED,
            actor=requested_by,
            publisher=scan.publisher,
            target=scan,
            data={"reference": reference, "source": source},
        )
        transaction.on_commit(functools.partial(tasks.queue_scan, scan.pk))
    return scan


def scans_request_for_revision(*, revision: Revision, requested_by: User | None) -> list[Scan]:
    """One scan per tier's staging source (tiers sharing a source share the scan)."""
    scans: dict[str, Scan] = {}
    for tier in revision.tiers.order_by("position", "id"):
        if tier.staging_source and tier.staging_source not in scans:
            scans[tier.staging_source] = scan_request(
                reference=tier.staging_source, tier=tier, revision=revision, requested_by=requested_by
            )
    return list(scans.values())


def scan_rescan(*, scan: Scan, requested_by: User | None) -> Scan:
    """Scan the same reference again (the tag may point at a new image, or the data changed)."""
    if scan.source != ScanSource.REGISTRY:
        raise ValidationError("Only images from the registry can be scanned again.")
    return scan_request(
        reference=scan.reference,
        tier=scan.tier,
        revision=scan.revision,
        requested_by=requested_by,
        platform=scan.platform,
        publisher=scan.publisher,
    )


def registry_reference(reference: str) -> tuple[str, dict[str, Any]]:
    """The full reference and the engine's registry options for a staging ``namespace/repo:tag``."""
    url = str(getattr(settings, "REGISTRY_URL", "") or "")
    if not url:
        raise engine.ScanError(NO_REGISTRY)
    parts = urlsplit(url if "://" in url else f"https://{url}")
    if not parts.netloc:
        raise engine.ScanError(f"REGISTRY_URL {url!r} names no host")
    options: dict[str, Any] = {
        "scheme": parts.scheme or "https",
        "timeout": float(getattr(settings, "SCAN_REGISTRY_TIMEOUT", 30)),
    }
    username = str(getattr(settings, "REGISTRY_SERVICE_USERNAME", "") or "")
    password = str(getattr(settings, "REGISTRY_SERVICE_PASSWORD", "") or "")
    if username and password:
        options.update(username=username, password=password)
    full = f"{parts.netloc}/{reference.lstrip('/')}"
    if os.path.exists(full):
        # open_source() reads local paths first; a reference must never name a file on this host.
        raise engine.ScanError(f"{reference!r} is not a registry reference")
    return full, options


class _ProgressSource(engine.ImageSource):
    """Reports each layer as the engine opens it: the progress shown while a scan runs."""

    def __init__(self, inner: engine.ImageSource, report: Callable[[int, int], None]) -> None:
        super().__init__(inner.limits)
        self._inner = inner
        self._report = report
        self._total = 0
        self._opened = 0

    def manifests(self, platform: engine.Platform | None = None, all_platforms: bool = False) -> list[Any]:
        found = self._inner.manifests(platform, all_platforms)
        self._total = sum(len(m.layers) for m in found)
        self._report(0, self._total)
        return found

    def open_blob(self, ref: Any) -> Any:
        if self._opened:
            self._report(self._opened, self._total)
        self._opened += 1
        return self._inner.open_blob(ref)

    def close(self) -> None:
        self._inner.close()


def open_scan_source(scan: Scan) -> engine.ImageSource:
    if scan.source == ScanSource.PATH:
        if not os.path.exists(scan.reference):
            raise engine.ScanError(f"{os.path.basename(scan.reference)} does not exist")
        return engine.open_source(scan.reference)
    reference, options = registry_reference(scan.reference)
    return engine.open_source(reference, **options)


def _report_progress(scan_id: int) -> Callable[[int, int], None]:
    def report(done: int, total: int) -> None:
        Scan.objects.filter(pk=scan_id).update(layers_done=done, layers_total=total)

    return report


def scan_start(*, scan_id: int, force: bool = False) -> Scan | None:
    """Mark the scan running; None when there is nothing to do (done and not forced, or gone)."""
    with transaction.atomic():
        scan = Scan.objects.select_for_update().filter(pk=scan_id).first()
        if scan is None or (scan.status == ScanStatus.DONE and not force):
            return None
        scan.status = ScanStatus.RUNNING
        scan.started_at = timezone.now()
        scan.finished_at = None
        scan.reason = ""
        scan.attempts += 1
        scan.layers_done = 0
        scan.save(update_fields=["status", "started_at", "finished_at", "reason", "attempts", "layers_done"])
    return scan


def scan_execute(*, scan_id: int, force: bool = False) -> Scan | None:
    """Read the image, store its inventory and findings. Raises ScanError for the task to handle."""
    scan = scan_start(scan_id=scan_id, force=force)
    if scan is None:
        return None
    with open_scan_source(scan) as inner, _ProgressSource(inner, _report_progress(scan.pk)) as source:
        inventories = engine.scan_source(source, platform=engine.Platform.parse(scan.platform))
    inventory = inventories[0]
    matches = match_components(inventory.components)
    with transaction.atomic():
        scan = Scan.objects.select_for_update().get(pk=scan.pk)
        scan.digest = inventory.image.manifest_digest or inventory.image.config_digest
        carried = _carried_times(scan)  # before a forced rescan replaces this scan's own findings
        _store_inventory(scan, inventory)
        counts = _store_findings(scan, matches, carried)
        scan.status = ScanStatus.DONE
        scan.finished_at = scan.matched_at = timezone.now()
        scan.reason = ""
        scan.save()
        record(
            event_type=EventType.SCAN_COMPLETED,
            publisher=scan.publisher,
            target=scan,
            data={"reference": scan.reference, "digest": scan.digest, **counts},
        )
    return scan


def scan_retry_later(*, scan_id: int, reason: str) -> None:
    """A transient problem: back to the queue, saying why."""
    Scan.objects.filter(pk=scan_id).update(status=ScanStatus.QUEUED, reason=f"Retrying: {reason}")


def scan_fail(*, scan_id: int, reason: str) -> Scan | None:
    with transaction.atomic():
        scan = Scan.objects.select_for_update().filter(pk=scan_id).first()
        if scan is None:
            return None
        scan.status = ScanStatus.FAILED
        scan.reason = reason[:2000]
        scan.finished_at = timezone.now()
        scan.save(update_fields=["status", "reason", "finished_at"])
        record(
            event_type=EventType.SCAN_FAILED,
            publisher=scan.publisher,
            target=scan,
            data={"reference": scan.reference, "reason": scan.reason},
        )
    return scan


# The engine words network trouble this way (scanning/engine/registry.py); its ScanError keeps the
# original exception as __context__ too, which is checked first.
_TRANSIENT = re.compile(
    r"could not be reached|did not answer|connection failed|answered (429|5\d\d)\b", re.IGNORECASE
)


def is_transient(exc: engine.ScanError) -> bool:
    """Network trouble and registry 5xx/429 answers are worth retrying; bad images are not."""
    context = exc.__context__
    if isinstance(context, (ConnectionError, TimeoutError, requests.ConnectionError, requests.Timeout)):
        return True
    return bool(_TRANSIENT.search(exc.reason))


def _store_inventory(scan: Scan, inventory: engine.Inventory) -> None:
    image = inventory.image
    scan.layers.all().delete()  # a forced rescan replaces the inventory (components cascade)
    scan.components.all().delete()
    scan.digest = image.manifest_digest or image.config_digest
    scan.config_digest = image.config_digest
    scan.platform = str(image.platform)
    scan.os_family = image.os.family if image.os else ""
    scan.os_version = image.os.version if image.os else ""
    scan.os_name = image.os.name if image.os else ""
    scan.warnings = list(inventory.warnings)[:100]
    scan.layers_total = scan.layers_done = len(image.layers)
    layers = Layer.objects.bulk_create(
        Layer(
            scan=scan,
            index=layer.index,
            digest=layer.digest,
            diff_id=layer.diff_id,
            media_type=layer.media_type,
            size=layer.size,
            created_by=layer.created_by or "",
        )
        for layer in image.layers
    )
    by_index = {layer.index: layer for layer in layers}
    Component.objects.bulk_create(
        (
            Component(
                scan=scan,
                layer=by_index.get(component.layer.index) if component.layer is not None else None,
                name=component.name,
                version=component.version,
                source_name=component.source_name,
                source_version=component.source_version,
                package_type=component.package_type,
                ecosystem=component.ecosystem,
                purl=component.purl,
                path=component.path,
                arch=component.arch,
                licenses=list(component.licenses),
            )
            for component in inventory.components
        ),
        batch_size=1000,
    )


def engine_layer(layer: Layer) -> engine.Layer:
    return engine.Layer(
        index=layer.index,
        digest=layer.digest,
        diff_id=layer.diff_id,
        media_type=layer.media_type,
        size=layer.size,
        created_by=layer.created_by or None,
    )


def engine_component(component: Component, layers: dict[int, engine.Layer]) -> engine.Component:
    return engine.Component(
        name=component.name,
        version=component.version,
        source_name=component.source_name,
        source_version=component.source_version,
        package_type=component.package_type,
        ecosystem=component.ecosystem,
        purl=component.purl,
        path=component.path,
        layer=layers.get(component.layer_id) if component.layer_id is not None else None,
        arch=component.arch,
        licenses=tuple(component.licenses),
    )


def stored_inventory(scan: Scan) -> tuple[list[Component], list[engine.Component]]:
    """The scan's components as rows and as engine components, in the same order."""
    layers = {layer.pk: engine_layer(layer) for layer in scan.layers.all()}
    rows = list(scan.components.order_by("pk"))
    return rows, [engine_component(row, layers) for row in rows]


def _carried_times(scan: Scan) -> dict[tuple[str, str], tuple[datetime, datetime | None]]:
    """First seen and notified times of the same image's findings in the publisher's scans so far."""
    if not scan.digest:
        return {}
    earlier = Finding.objects.filter(
        Q(scan__publisher_id=scan.publisher_id, scan__digest=scan.digest) | Q(scan=scan)
    ).values_list("component__purl", "advisory_id", "first_seen_at", "notified_at")
    carried: dict[tuple[str, str], tuple[datetime, datetime | None]] = {}
    for purl, advisory_id, first_seen, notified in earlier:
        key = (purl, advisory_id)
        if key in carried:
            old_first, old_notified = carried[key]
            first_seen = min(first_seen, old_first)
            notified = min(n for n in (notified, old_notified) if n) if (notified or old_notified) else None
        carried[key] = (first_seen, notified)
    return carried


_FINDING_FIELDS = [
    "aliases",
    "cve",
    "summary",
    "installed_version",
    "fixed_version",
    "fix_state",
    "cvss_vector",
    "cvss_version",
    "cvss_score",
    "severity",
    "overridden",
    "last_matched_at",
]


def _store_findings(
    scan: Scan,
    matches: Sequence[Match],
    carried: dict[tuple[str, str], tuple[datetime, datetime | None]] | None = None,
) -> dict[str, int]:
    """Write the scan's findings: existing ones keep ``first_seen_at``; gone ones are deleted.

    A new finding takes its first-seen and notified times from ``carried`` (the same image's
    findings in earlier scans), so rescanning an image never restarts the SLA clock.
    """
    rows, components = stored_inventory(scan)
    row_for = {(c.purl, c.path, c.name, c.version): row for c, row in zip(components, rows, strict=True)}
    existing = {(f.component_id, f.advisory_id): f for f in scan.findings.all()}
    carried = carried or {}
    now = timezone.now()
    keep: set[int] = set()
    to_create: list[Finding] = []
    to_update: list[Finding] = []
    for match in matches:
        found = match.finding
        c = found.component
        row = row_for.get((c.purl, c.path, c.name, c.version))
        if row is None:
            continue
        score = found.score
        values = {
            "aliases": list(match.aliases),
            "cve": match.cve,
            "summary": found.summary[:2000],
            "installed_version": found.installed_version,
            "fixed_version": found.fixed_version or "",
            "fix_state": str(found.fix_state),
            "cvss_vector": score.vector if score else "",
            "cvss_version": score.version if score else "",
            "cvss_score": Decimal(str(score.base_score)) if score else None,
            "severity": str(found.severity),
            "overridden": match.overridden,
            "last_matched_at": now,
        }
        finding = existing.get((row.pk, found.advisory_id))
        if finding is not None:
            if finding.pk in keep:
                continue
            for attr, value in values.items():
                setattr(finding, attr, value)
            keep.add(finding.pk)
            to_update.append(finding)
            continue
        first_seen, notified = carried.get((row.purl, found.advisory_id), (now, None))
        finding = Finding(
            scan=scan,
            component=row,
            advisory_id=found.advisory_id,
            first_seen_at=first_seen,
            notified_at=notified,
            **values,
        )
        existing[(row.pk, found.advisory_id)] = finding
        to_create.append(finding)
    gone = [f.pk for f in existing.values() if f.pk is not None and f.pk not in keep]
    Finding.objects.filter(pk__in=gone).delete()
    if to_update:
        Finding.objects.bulk_update(to_update, _FINDING_FIELDS, batch_size=500)
    Finding.objects.bulk_create(to_create, batch_size=500)
    return {"added": len(to_create), "kept": len(to_update), "removed": len(gone)}


def scan_rematch(*, scan_id: int) -> dict[str, int] | None:
    """Match the stored inventory against the current data; findings keep when they were first seen."""
    with transaction.atomic():
        scan = Scan.objects.select_for_update().filter(pk=scan_id, status=ScanStatus.DONE).first()
        if scan is None:
            return None
        _, components = stored_inventory(scan)
        counts = _store_findings(scan, match_components(components))
        scan.matched_at = timezone.now()
        scan.save(update_fields=["matched_at"])
    return counts


def scan_inventory(scan: Scan) -> engine.Inventory:
    """The stored inventory as the engine's, e.g. for the SBOM."""
    _, components = stored_inventory(scan)
    layers = tuple(engine_layer(layer) for layer in scan.layers.order_by("index"))
    os_info = engine.OSInfo(scan.os_family, scan.os_version, scan.os_name) if scan.os_family else None
    image = engine.ImageInfo(
        manifest_digest=scan.digest if scan.digest != scan.config_digest else None,
        config_digest=scan.config_digest,
        platform=engine.Platform.parse(scan.platform),
        layers=layers,
        os=os_info,
    )
    return engine.Inventory(image=image, components=tuple(components), warnings=tuple(scan.warnings))


def scan_sbom(scan: Scan) -> dict[str, Any]:
    """CycloneDX 1.5 JSON of a finished scan's inventory."""
    return engine.to_cyclonedx(scan_inventory(scan))

"""Reads of scan results. Every lookup goes through ``get_publisher_for_viewer``.

Scan results are private to the publisher: its members see them, and so do the store's moderators
(staff with ``scanning.view_scan``). Anyone else gets 404, exactly as if nothing existed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.db.models import Case, Count, F, IntegerField, Prefetch, Q, QuerySet, Value, When
from django.http import Http404

from publishers.models import Publisher, Role
from publishers.selectors import get_publisher_for_member
from scanning.models import SEVERITY_ORDER, Component, Finding, FixState, Layer, Scan, ScanStatus, Severity

if TYPE_CHECKING:
    from listings.models import Revision, Tier


def is_scan_moderator(user: Any) -> bool:
    return bool(
        user is not None and user.is_authenticated and user.is_staff and user.has_perm("scanning.view_scan")
    )


def get_publisher_for_viewer(user: Any, namespace: str, *, min_role: Role = Role.VIEWER) -> Publisher:
    """The publisher whose scan results ``user`` may read: a member (at ``min_role``) or a moderator."""
    if min_role == Role.VIEWER and is_scan_moderator(user):
        publisher = Publisher.objects.filter(namespace=namespace).first()
        if publisher is None:
            raise Http404("No such publisher.")
        return publisher
    return get_publisher_for_member(user, namespace, min_role=min_role)


def _severity_counts() -> dict[str, Count]:
    counts = {f"n_{s}": Count("findings", filter=Q(findings__severity=s)) for s in Severity.values}
    counts["n_fixable"] = Count("findings", filter=Q(findings__fix_state=FixState.FIXED))
    return counts


def scans_for_publisher(publisher: Publisher) -> QuerySet[Scan]:
    """The publisher's scans, newest first, each with its counts by severity (one query)."""
    return (
        Scan.objects.filter(publisher=publisher)
        .select_related("product", "tier", "revision")
        .annotate(**_severity_counts())
        .order_by("-queued_at", "-id")
    )


def get_scan_for_viewer(user: Any, namespace: str, scan_id: int, *, min_role: Role = Role.VIEWER) -> Scan:
    publisher = get_publisher_for_viewer(user, namespace, min_role=min_role)
    scan = scans_for_publisher(publisher).filter(pk=scan_id).first()
    if scan is None:
        raise Http404("No such scan.")
    scan.publisher = publisher
    return scan


def severity_counts(scan: Scan) -> dict[str, int]:
    """{critical, major, minor, none, unknown, fixable, total}, from the annotation when present."""
    if hasattr(scan, "n_critical"):
        counts = {s: int(getattr(scan, f"n_{s}")) for s in Severity.values}
        counts["fixable"] = int(getattr(scan, "n_fixable", 0))
    else:
        rows = dict(
            scan.findings.values_list("severity").annotate(n=Count("id")).values_list("severity", "n")
        )
        counts = {s: int(rows.get(s, 0)) for s in Severity.values}
        counts["fixable"] = scan.findings.filter(fix_state=FixState.FIXED).count()
    counts["total"] = sum(counts[s] for s in Severity.values)
    return counts


def layers_with_components(scan: Scan) -> list[Layer]:
    components = Component.objects.order_by("name", "version", "id")
    return list(scan.layers.prefetch_related(Prefetch("components", queryset=components)).order_by("index"))


def components_of(scan: Scan, *, layer: int | None = None) -> QuerySet[Component]:
    queryset = scan.components.select_related("layer").order_by("layer__index", "name", "version", "id")
    if layer is not None:
        queryset = queryset.filter(layer__index=layer)
    return queryset


_SEVERITY_RANK = {s: i for i, s in enumerate(SEVERITY_ORDER)}


@dataclass(frozen=True)
class FindingFilter:
    severity: str = ""
    fixable: bool | None = None

    @classmethod
    def from_query(cls, query: Any) -> FindingFilter:
        severity = str(query.get("severity", "")).lower()
        raw = str(query.get("fixable", "")).lower()
        fixable = True if raw in ("1", "true", "yes") else False if raw in ("0", "false", "no") else None
        return cls(severity if severity in Severity.values else "", fixable)


def findings_of(scan: Scan, filters: FindingFilter | None = None) -> QuerySet[Finding]:
    """Findings, worst first (severity, then score), with their component and its layer."""
    queryset = scan.findings.select_related("component", "component__layer")
    filters = filters or FindingFilter()
    if filters.severity:
        queryset = queryset.filter(severity=filters.severity)
    if filters.fixable is True:
        queryset = queryset.filter(fix_state=FixState.FIXED)
    elif filters.fixable is False:
        queryset = queryset.exclude(fix_state=FixState.FIXED)
    rank = Case(
        *[When(severity=s, then=Value(i)) for s, i in _SEVERITY_RANK.items()],
        output_field=IntegerField(),
    )
    return queryset.annotate(rank=rank).order_by(
        "rank", F("cvss_score").desc(nulls_last=True), "component__name", "advisory_id"
    )


# ---------------------------------------------------------------------------------------------
# The review page (listings admin): one summary per submitted revision


BLOCKING_LIMIT = 10


@dataclass
class TierScan:
    tier: Tier
    reference: str
    scan: Scan | None = None
    counts: dict[str, int] | None = None
    critical: list[str] = field(default_factory=list)  # the CVEs that block, by name


def _critical_ids(scan: Scan) -> list[str]:
    ids = scan.findings.filter(severity=Severity.CRITICAL).order_by("cve", "advisory_id")
    names = dict.fromkeys(
        f.cve or f.advisory_id for f in ids.only("cve", "advisory_id")[: BLOCKING_LIMIT * 3]
    )
    return list(names)[:BLOCKING_LIMIT]


def scan_summary_for_revision(revision: Revision) -> dict[str, Any]:
    """The scan results of a revision's images, for the moderators' review page.

    For each tier with a staging source: the newest scan made for that tier of this revision, or
    else the newest scan of the same reference for the publisher. Counts by severity, the critical
    CVEs by name (not only a count), and whether every image has been scanned.
    """
    product = revision.product
    tiers = list(revision.tiers.order_by("position", "id"))
    references = {t.staging_source for t in tiers if t.staging_source}
    scans = list(
        Scan.objects.filter(publisher_id=product.publisher_id, reference__in=references)
        .annotate(**_severity_counts())
        .order_by("-queued_at", "-id")
    )
    rows = []
    for tier in tiers:
        row = TierScan(tier=tier, reference=tier.staging_source)
        if row.reference:
            same_ref = [s for s in scans if s.reference == tier.staging_source]
            row.scan = next((s for s in same_ref if s.tier_id == tier.pk), None) or next(iter(same_ref), None)
            if row.scan is not None and row.scan.status == ScanStatus.DONE:
                row.counts = severity_counts(row.scan)
                if row.counts[Severity.CRITICAL]:
                    row.critical = _critical_ids(row.scan)
        rows.append(row)
    totals = dict.fromkeys([*Severity.values, "fixable", "total"], 0)
    for row in rows:
        for key, value in (row.counts or {}).items():
            totals[key] += value
    scanned = [r for r in rows if r.reference]
    return {
        "revision": revision,
        "namespace": product.publisher.namespace,
        "tiers": rows,
        "totals": totals,
        "complete": bool(scanned) and all(r.counts is not None for r in scanned),
        "pending": [r for r in scanned if r.scan is not None and r.scan.is_active],
        "failed": [r for r in scanned if r.scan is not None and r.scan.status == ScanStatus.FAILED],
        "missing": [r for r in scanned if r.scan is None],
    }

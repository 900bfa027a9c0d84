"""Vulnerability data (OSV advisories), scans of images, their inventories and findings.

An advisory is stored whole (``raw``) so the engine can re-parse it for matching; its affected
packages are rows indexed by (ecosystem, package name) so a scan fetches only the advisories that
name one of its packages. A scan stores its inventory (layers and components) so findings can be
re-matched when the vulnerability data changes, without pulling the image again.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

_PEP503 = re.compile(r"[-_.]+")


def package_key(ecosystem: str, name: str) -> tuple[str, str]:
    """How an (ecosystem, package) pair is indexed: the same normalisation the engine matches with.

    Ubuntu's ``:LTS`` suffix names the same release; PyPI names compare per PEP 503.
    """
    if ecosystem.startswith("Ubuntu:") and ecosystem.endswith(":LTS"):
        ecosystem = ecosystem[: -len(":LTS")]
    if ecosystem == "PyPI":
        name = _PEP503.sub("-", name).lower()
    return ecosystem, name


class Severity(models.TextChoices):
    """The store's classification (seed README): the SLA runs from the notification."""

    CRITICAL = "critical", "Critical"
    MAJOR = "major", "Major"
    MINOR = "minor", "Minor"
    # CVSS 0.0 is a known score that rates "None": below the store's Minor range (0.1-3.9).
    NONE = "none", "None"
    UNKNOWN = "unknown", "Unknown"


# Hours to fix after the publisher is notified; Minor, None and Unknown have no SLA.
SLA_HOURS: dict[str, int] = {Severity.CRITICAL: 72, Severity.MAJOR: 7 * 24}
SEVERITY_ORDER = [Severity.CRITICAL, Severity.MAJOR, Severity.MINOR, Severity.NONE, Severity.UNKNOWN]


class FixState(models.TextChoices):
    FIXED = "fixed", "Fixed version available"
    NOT_FIXED = "not-fixed", "No fix yet"
    NOT_AFFECTED = "not-affected", "Not affected"


class Advisory(models.Model):
    """One OSV record."""

    osv_id = models.CharField("OSV id", max_length=200, unique=True)
    aliases = models.JSONField(default=list, blank=True)
    # Debian and Alpine records name the CVEs they fix in ``upstream`` rather than ``aliases``.
    upstream = models.JSONField(default=list, blank=True)
    summary = models.TextField(blank=True)
    modified = models.DateTimeField(null=True, blank=True)
    withdrawn = models.DateTimeField(null=True, blank=True)
    severity = models.JSONField(default=list, blank=True, help_text="OSV severity[]: type and CVSS vector.")
    raw = models.JSONField()
    content_hash = models.CharField(max_length=64)
    source = models.CharField(max_length=300, blank=True, help_text="The file it was imported from.")
    imported_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["osv_id"]
        verbose_name_plural = "advisories"

    def __str__(self) -> str:
        return self.osv_id

    @property
    def cve_ids(self) -> list[str]:
        ids = [self.osv_id, *self.aliases, *self.upstream]
        return list(dict.fromkeys(i for i in ids if isinstance(i, str) and i.startswith("CVE-")))


class AffectedPackage(models.Model):
    advisory = models.ForeignKey(Advisory, on_delete=models.CASCADE, related_name="packages")
    ecosystem = models.CharField(max_length=100)
    name = models.CharField(max_length=300)

    class Meta:
        indexes = [models.Index(fields=["ecosystem", "name"], name="affected_package_lookup")]
        constraints = [
            models.UniqueConstraint(fields=["advisory", "ecosystem", "name"], name="affected_package_unique")
        ]

    def __str__(self) -> str:
        return f"{self.ecosystem}/{self.name}"


class ScanStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class ScanSource(models.TextChoices):
    REGISTRY = "registry", "Registry"
    PATH = "path", "Local file or folder"


ACTIVE_STATES = (ScanStatus.QUEUED, ScanStatus.RUNNING)


class Scan(models.Model):
    """One image, scanned once: its layers, components and findings."""

    publisher = models.ForeignKey(
        "publishers.Publisher", null=True, blank=True, on_delete=models.CASCADE, related_name="scans"
    )
    product = models.ForeignKey(
        "listings.Product", null=True, blank=True, on_delete=models.SET_NULL, related_name="scans"
    )
    # The tier across revisions (its key) and the exact tier row of the revision that asked.
    tier_key = models.UUIDField(null=True, blank=True, db_index=True)
    tier = models.ForeignKey(
        "listings.Tier", null=True, blank=True, on_delete=models.SET_NULL, related_name="scans"
    )
    revision = models.ForeignKey(
        "listings.Revision", null=True, blank=True, on_delete=models.SET_NULL, related_name="scans"
    )
    source = models.CharField(max_length=20, choices=ScanSource.choices, default=ScanSource.REGISTRY)
    reference = models.CharField(max_length=500, help_text="namespace/repository:tag, or a path.")
    platform = models.CharField(max_length=60, default="linux/amd64")
    digest = models.CharField(max_length=100, blank=True, db_index=True, help_text="Manifest or image id.")
    config_digest = models.CharField(max_length=100, blank=True)

    status = models.CharField(max_length=20, choices=ScanStatus.choices, default=ScanStatus.QUEUED)
    reason = models.TextField(blank=True, help_text="Why it failed, or why it is being retried.")
    attempts = models.PositiveSmallIntegerField(default=0)
    layers_total = models.PositiveIntegerField(default=0)
    layers_done = models.PositiveIntegerField(default=0)
    os_family = models.CharField(max_length=60, blank=True)
    os_version = models.CharField(max_length=60, blank=True)
    os_name = models.CharField(max_length=200, blank=True)
    warnings = models.JSONField(default=list, blank=True)

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    queued_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    matched_at = models.DateTimeField(null=True, blank=True, help_text="Findings last computed.")

    class Meta:
        ordering = ["-queued_at", "-id"]
        indexes = [
            models.Index(fields=["publisher", "queued_at"], name="scan_publisher_time"),
            models.Index(fields=["reference", "status"], name="scan_reference_status"),
        ]
        constraints = [
            # At most one queued or running scan per reference and publisher: scan_request is idempotent.
            models.UniqueConstraint(
                fields=["publisher", "source", "reference"],
                condition=models.Q(status__in=["queued", "running"]),
                name="scan_one_active_per_reference",
            )
        ]

    def __str__(self) -> str:
        return f"{self.reference} ({self.get_status_display()})"

    def get_absolute_url(self) -> str:
        namespace = self.publisher.namespace if self.publisher is not None else "-"
        return reverse("scanning:scan", args=[namespace, self.pk])

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATES

    @property
    def progress_percent(self) -> int:
        if self.status == ScanStatus.DONE:
            return 100
        if not self.layers_total:
            return 0
        return min(100, round(100 * self.layers_done / self.layers_total))

    @property
    def duration(self) -> timedelta | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at


class Layer(models.Model):
    scan = models.ForeignKey(Scan, on_delete=models.CASCADE, related_name="layers")
    index = models.PositiveIntegerField()
    digest = models.CharField(max_length=100)
    diff_id = models.CharField(max_length=100)
    media_type = models.CharField(max_length=200, blank=True)
    size = models.BigIntegerField(null=True, blank=True)
    created_by = models.TextField(blank=True)

    class Meta:
        ordering = ["scan", "index"]
        constraints = [models.UniqueConstraint(fields=["scan", "index"], name="layer_unique_index")]

    def __str__(self) -> str:
        return f"layer {self.index} {self.diff_id[:19]}"


class Component(models.Model):
    """A package in the image's final filesystem, with the layer that introduced it."""

    scan = models.ForeignKey(Scan, on_delete=models.CASCADE, related_name="components")
    layer = models.ForeignKey(
        Layer, null=True, blank=True, on_delete=models.CASCADE, related_name="components"
    )
    name = models.CharField(max_length=300)
    version = models.CharField(max_length=200)
    source_name = models.CharField(max_length=300, blank=True)
    source_version = models.CharField(max_length=200, blank=True)
    package_type = models.CharField(max_length=20)
    ecosystem = models.CharField(max_length=100, blank=True)
    purl = models.CharField(max_length=1000)
    path = models.CharField(max_length=1000, blank=True)
    arch = models.CharField(max_length=40, blank=True)
    licenses = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["scan", "name", "version", "id"]

    def __str__(self) -> str:
        return f"{self.name}@{self.version}"


class Finding(models.Model):
    """A vulnerability of one component. ``first_seen_at`` survives re-matches and rescans."""

    scan = models.ForeignKey(Scan, on_delete=models.CASCADE, related_name="findings")
    component = models.ForeignKey(Component, on_delete=models.CASCADE, related_name="findings")
    advisory_id = models.CharField(max_length=200)
    aliases = models.JSONField(default=list, blank=True)
    cve = models.CharField("CVE", max_length=40, blank=True)
    summary = models.TextField(blank=True)
    installed_version = models.CharField(max_length=200)
    fixed_version = models.CharField(max_length=200, blank=True)
    fix_state = models.CharField(max_length=20, choices=FixState.choices)
    cvss_vector = models.CharField("CVSS vector", max_length=300, blank=True)
    cvss_version = models.CharField(max_length=10, blank=True)
    cvss_score = models.DecimalField("CVSS score", max_digits=3, decimal_places=1, null=True, blank=True)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    overridden = models.BooleanField(default=False, help_text="The security team chose the severity.")
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_matched_at = models.DateTimeField(default=timezone.now)
    # The SLA clock starts when the publisher is told (a later issue sends the notice).
    notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["scan", "component__name", "advisory_id"]
        constraints = [
            models.UniqueConstraint(fields=["component", "advisory_id"], name="finding_unique_advisory")
        ]
        indexes = [models.Index(fields=["scan", "severity"], name="finding_scan_severity")]

    def __str__(self) -> str:
        return f"{self.cve or self.advisory_id} in {self.component}"

    @property
    def is_fixable(self) -> bool:
        return self.fix_state == FixState.FIXED

    @property
    def sla_due_at(self) -> datetime | None:
        """When the fix is due by the store's table; None before notification or without an SLA."""
        hours = SLA_HOURS.get(self.severity)
        if hours is None or self.notified_at is None:
            return None
        return self.notified_at + timedelta(hours=hours)


class SeverityOverride(models.Model):
    """The security team's classification of one vulnerability, whatever its CVSS score."""

    identifier = models.CharField(
        max_length=200, unique=True, help_text="An advisory id or an alias such as CVE-2024-1234."
    )
    severity = models.CharField(max_length=10, choices=Severity.choices)
    reason = models.TextField()
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["identifier"]
        permissions = [("security_team", "Can import vulnerability data and override severities")]

    def __str__(self) -> str:
        return f"{self.identifier}: {self.get_severity_display()}"

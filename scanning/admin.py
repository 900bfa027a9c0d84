"""Scans and advisories are read-only in admin; the security team edits severity overrides."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from scanning import services
from scanning.models import Advisory, Finding, Scan, SeverityOverride


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class FindingInline(admin.TabularInline):
    model = Finding
    fields = (
        "advisory_id",
        "cve",
        "component",
        "installed_version",
        "fixed_version",
        "cvss_score",
        "severity",
        "overridden",
        "first_seen_at",
        "notified_at",
    )
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False
    ordering = ["severity", "advisory_id"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Finding]:
        return super().get_queryset(request).select_related("component")


@admin.register(Scan)
class ScanAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "reference",
        "publisher",
        "status",
        "digest",
        "os_family",
        "os_version",
        "queued_at",
    ]
    list_filter = ["status", "source"]
    search_fields = ["reference", "digest", "publisher__namespace"]
    list_select_related = ["publisher"]
    date_hierarchy = "queued_at"
    inlines = [FindingInline]
    readonly_fields = [
        "publisher",
        "product",
        "tier",
        "tier_key",
        "revision",
        "source",
        "reference",
        "platform",
        "digest",
        "config_digest",
        "status",
        "reason",
        "attempts",
        "layers_done",
        "layers_total",
        "os_family",
        "os_version",
        "os_name",
        "warnings",
        "requested_by",
        "queued_at",
        "started_at",
        "finished_at",
        "matched_at",
    ]


@admin.register(Advisory)
class AdvisoryAdmin(ReadOnlyAdmin):
    list_display = ["osv_id", "summary", "modified", "withdrawn", "updated_at"]
    search_fields = ["osv_id", "summary"]
    list_filter = ["withdrawn"]
    readonly_fields = [
        "osv_id",
        "aliases",
        "upstream",
        "summary",
        "modified",
        "withdrawn",
        "severity",
        "raw",
        "content_hash",
        "source",
        "imported_at",
        "updated_at",
    ]


@admin.register(SeverityOverride)
class SeverityOverrideAdmin(admin.ModelAdmin):
    """Writes go through the services so each one is audited and the findings re-matched."""

    list_display = ["identifier", "severity", "reason", "author", "updated_at"]
    search_fields = ["identifier", "reason"]
    list_filter = ["severity"]
    fields = ["identifier", "severity", "reason"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # Another identifier is another override: add it rather than renaming this one.
        return ["identifier"] if obj is not None else []

    def _security_team(self, request: HttpRequest) -> bool:
        return bool(
            request.user.is_active
            and request.user.is_staff
            and request.user.has_perm("scanning.security_team")
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._security_team(request) and super().has_add_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._security_team(request) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._security_team(request) and super().has_delete_permission(request, obj)

    def save_model(self, request: HttpRequest, obj: SeverityOverride, form: Any, change: bool) -> None:
        saved = services.severity_override_set(
            actor=request.user,  # type: ignore[arg-type]
            identifier=obj.identifier,
            severity=obj.severity,
            reason=obj.reason,
        )
        obj.pk = saved.pk

    def delete_model(self, request: HttpRequest, obj: SeverityOverride) -> None:
        services.severity_override_remove(actor=request.user, override=obj)  # type: ignore[arg-type]

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[SeverityOverride]) -> None:
        for override in queryset:
            services.severity_override_remove(actor=request.user, override=override)  # type: ignore[arg-type]

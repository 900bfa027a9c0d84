from django.contrib import admin
from django.http import HttpRequest

from audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin[AuditEvent]):
    """Read-only: the log is append-only, in the admin as in the database."""

    list_display = ["occurred_at", "event_type", "actor_email", "publisher", "target_type", "target_id"]
    list_filter = ["event_type", "occurred_at"]
    search_fields = ["actor_email", "target_id", "publisher__namespace"]
    date_hierarchy = "occurred_at"
    list_select_related = ["publisher"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AuditEvent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AuditEvent | None = None) -> bool:
        return False

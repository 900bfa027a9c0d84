"""Publishers in the admin: the store team reads profiles, members and invitations.

Moderators (store.roles.MODERATORS_GROUP) hold only the view permissions, so the admin shows them
everything read-only. Invitations are created from the publisher's own pages, where the email
with the one-time link is sent; the admin cannot create them.
"""

from __future__ import annotations

from django.contrib import admin
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString

from publishers.models import Invitation, Membership, Publisher


def _logo_img(publisher: Publisher, size: int) -> SafeString | str:
    if not publisher.logo:
        return "—"
    return format_html(
        '<img src="{}" alt="{} logo" width="{}" height="{}" style="border-radius:6px;object-fit:cover">',
        publisher.logo.url,
        publisher.namespace,
        size,
        size,
    )


class MembershipInline(admin.TabularInline[Membership, Publisher]):
    model = Membership
    extra = 0
    fields = ["user", "role", "created_at"]
    readonly_fields = ["created_at"]
    raw_id_fields = ["user"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Membership]:
        return super().get_queryset(request).select_related("user")


@admin.register(Publisher)
class PublisherAdmin(admin.ModelAdmin[Publisher]):
    list_display = ["logo_thumbnail", "namespace", "legal_name", "company_email", "onboarded", "created_at"]
    list_display_links = ["logo_thumbnail", "namespace"]
    search_fields = ["namespace", "legal_name"]
    list_filter = [("onboarding_completed_at", admin.EmptyFieldListFilter), "created_at"]
    date_hierarchy = "created_at"
    readonly_fields = ["logo_preview", "onboarding_completed_at", "created_at", "updated_at"]
    inlines = [MembershipInline]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    fieldsets = [
        (
            "Company profile",
            {
                "fields": [
                    "namespace",
                    "legal_name",
                    "website",
                    "phone",
                    "company_email",
                    "logo_preview",
                    "logo",
                    "story",
                ]
            },
        ),
        (
            "Support and SLA",
            {
                "fields": [
                    "support_website",
                    "support_email",
                    "self_help_links",
                    "support_hours",
                    "response_times",
                ]
            },
        ),
        (
            "Onboarding",
            {"fields": ["onboarding_step", "onboarding_completed_at", "created_at", "updated_at"]},
        ),
    ]

    def get_readonly_fields(self, request: HttpRequest, obj: Publisher | None = None) -> list[str]:
        # The namespace names the publisher's repositories in the registry: fixed once created.
        fields = list(super().get_readonly_fields(request, obj))
        return [*fields, "namespace"] if obj is not None else fields

    @admin.display(description="Logo")
    def logo_thumbnail(self, publisher: Publisher) -> SafeString | str:
        return _logo_img(publisher, 32)

    @admin.display(description="Logo preview")
    def logo_preview(self, publisher: Publisher) -> SafeString | str:
        return _logo_img(publisher, 160)

    @admin.display(description="Onboarded", boolean=True, ordering="onboarding_completed_at")
    def onboarded(self, publisher: Publisher) -> bool:
        return publisher.onboarding_completed_at is not None


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin[Invitation]):
    list_display = ["email", "publisher", "role", "status", "invited_by", "created_at", "expires_at"]
    list_filter = ["role", "created_at"]
    search_fields = ["email", "publisher__namespace", "publisher__legal_name"]
    list_select_related = ["publisher", "invited_by"]
    readonly_fields = [
        "publisher",
        "email",
        "role",
        "invited_by",
        "created_at",
        "expires_at",
        "accepted_at",
        "accepted_by",
        "revoked_at",
    ]
    exclude = ["token_hash"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="Status")
    def status(self, invitation: Invitation) -> str:
        if invitation.accepted_at:
            return "accepted"
        if invitation.revoked_at:
            return "revoked"
        return "expired" if invitation.is_expired else "pending"

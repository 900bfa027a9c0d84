"""Publishers in the admin: the store team reads profiles, members and invitations.

Moderators (store.roles.MODERATORS_GROUP) hold only the view permissions, so the admin shows them
everything read-only. Invitations are created from the publisher's own pages, where the email
with the one-time link is sent; the admin cannot create them.

What a superuser changes here is audited like the same change made by the publisher (with
``"via": "admin"`` in the event's data), in the admin's own transaction.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString

from accounts.models import User
from audit.models import EventType
from audit.services import record
from publishers.models import Invitation, Membership, Publisher, Role

VIA_ADMIN = {"via": "admin"}


def _actor(request: HttpRequest) -> User | None:
    return request.user if isinstance(request.user, User) else None


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


class MembershipInlineForm(forms.ModelForm[Membership]):
    class Meta:
        model = Membership
        fields = ["user", "role"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # A row is one person's membership; another person means removing it and adding a new one.
        if self.instance.pk is not None:
            self.fields["user"].disabled = True


class MembershipInlineFormSet(forms.BaseInlineFormSet):
    def clean(self) -> None:
        super().clean()
        had_owner = any(form.initial.get("role") == Role.OWNER for form in self.initial_forms)
        kept = [form.cleaned_data for form in self.forms if not form.cleaned_data.get("DELETE")]
        if had_owner and not any(data.get("role") == Role.OWNER for data in kept):
            raise ValidationError("A publisher keeps at least one owner; make someone else an owner first.")


class MembershipInline(admin.TabularInline[Membership, Publisher]):
    model = Membership
    form = MembershipInlineForm
    formset = MembershipInlineFormSet
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

    def has_delete_permission(self, request: HttpRequest, obj: Publisher | None = None) -> bool:
        # A tenant's listings, licences and audit trail refer to it; it is never deleted from here.
        return False

    def save_model(self, request: HttpRequest, obj: Publisher, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if not change:
            record(
                event_type=EventType.PUBLISHER_CREATED,
                actor=_actor(request),
                publisher=obj,
                target=obj,
                data={"namespace": obj.namespace, **VIA_ADMIN},
            )
        elif form.changed_data:
            record(
                event_type=EventType.PUBLISHER_PROFILE_CHANGED,
                actor=_actor(request),
                publisher=obj,
                target=obj,
                data={"fields": sorted(form.changed_data), **VIA_ADMIN},
            )

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        if formset.model is not Membership:
            super().save_formset(request, form, formset, change)
            return
        actor, publisher = _actor(request), form.instance
        roles_before = {row.instance.pk: row.initial.get("role") for row in formset.initial_forms}
        formset.save(commit=False)
        for membership in formset.deleted_objects:
            record(
                event_type=EventType.MEMBER_REMOVED,
                actor=actor,
                publisher=publisher,
                target=membership,
                data={"email": membership.user.email, "role": roles_before[membership.pk], **VIA_ADMIN},
            )
            membership.delete()
        for membership in formset.new_objects:
            membership.save()
            record(
                event_type=EventType.MEMBER_JOINED,
                actor=actor,
                publisher=publisher,
                target=membership,
                data={"role": membership.role, **VIA_ADMIN},
            )
        for membership, fields in formset.changed_objects:
            membership.save()
            if "role" in fields:
                record(
                    event_type=EventType.MEMBER_ROLE_CHANGED,
                    actor=actor,
                    publisher=publisher,
                    target=membership,
                    data={
                        "email": membership.user.email,
                        "from": roles_before[membership.pk],
                        "to": membership.role,
                        **VIA_ADMIN,
                    },
                )

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

    def has_delete_permission(self, request: HttpRequest, obj: Invitation | None = None) -> bool:
        # Revoking (from the publisher's members page) keeps the record; deleting would erase it.
        return False

    @admin.display(description="Status")
    def status(self, invitation: Invitation) -> str:
        if invitation.accepted_at:
            return "accepted"
        if invitation.revoked_at:
            return "revoked"
        return "expired" if invitation.is_expired else "pending"

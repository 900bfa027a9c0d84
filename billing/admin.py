"""Billing in Django admin: licences (with staff grants), the ledger (read-only, with refunds),
Stripe events (with replay).

Money is never edited by hand: refunds go through ``billing.services.payment_refund`` exactly as
the publisher's sales page does, events are replayed through the same idempotent handlers, and a
licence is given without payment only through ``billing.services.licence_grant`` (audited).
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import F, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path

from accounts.models import User
from billing import gateway, services
from billing.models import LedgerEntry, LedgerKind, Licence, PayoutAccount, StripeEvent, StripePrice
from listings.models import ProductStatus, Tier

REFUND = "billing.refund_payment"
GRANT = "billing.grant_licence"


class TierChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        product = obj.revision.product
        return f"{product.publisher.namespace}/{product.slug} · {obj.name}"


class GrantLicenceForm(forms.Form):
    """Give a customer a tier without payment: a support case, a partner, a replacement."""

    email = forms.EmailField(label="Customer's email")
    tier = TierChoiceField(queryset=Tier.objects.none(), help_text="Tiers of live listings only.")
    last_day = forms.DateField(
        required=False,
        label="Last day of access",
        help_text="YYYY-MM-DD, in UTC. Leave empty for a licence that does not end.",
    )
    reason = forms.CharField(
        max_length=500, widget=forms.Textarea(attrs={"rows": 3}), help_text="Kept in the audit log."
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["tier"].queryset = (  # type: ignore[attr-defined]
            Tier.objects.filter(
                revision__product__live_revision=F("revision"),
                revision__product__status__in=[ProductStatus.PUBLISHED, ProductStatus.ON_HOLD],
            )
            .select_related("revision__product__publisher")
            .order_by("revision__product__publisher__namespace", "revision__product__slug", "position", "id")
        )

    def clean_email(self) -> User:
        email = self.cleaned_data["email"]
        user = User.objects.filter(email__iexact=email, is_active=True).first()
        if user is None:
            raise ValidationError("No active account has this email address.")
        return user

    def period_end(self) -> datetime | None:
        last_day = self.cleaned_data.get("last_day")
        if last_day is None:
            return None
        return datetime.combine(last_day + timedelta(days=1), time.min, tzinfo=UTC)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _refund(modeladmin: admin.ModelAdmin, request: HttpRequest, payments: list[LedgerEntry]) -> None:
    actor = cast(User, request.user)
    for payment in payments:
        try:
            services.payment_refund(actor=actor, payment=payment, reason="refunded by the store")
        except ValidationError as exc:
            modeladmin.message_user(request, f"{payment}: {' '.join(exc.messages)}", messages.ERROR)
        except gateway.GatewayError as exc:
            modeladmin.message_user(request, f"{payment}: {exc.message}", messages.ERROR)
        else:
            modeladmin.message_user(
                request, f"Refund of {payment} requested; the licence follows when Stripe confirms it."
            )


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = [
        "occurred_at",
        "kind",
        "amount",
        "currency",
        "publisher",
        "product",
        "tier_name",
        "customer",
    ]
    list_filter = ["kind", "currency", "publisher"]
    search_fields = ["stripe_object_id", "payment_intent_id", "customer__email", "product__name"]
    list_select_related = ["publisher", "product", "customer"]
    date_hierarchy = "occurred_at"
    actions = ["refund_payments"]

    @admin.action(description="Refund the selected payments", permissions=["refund"])
    def refund_payments(self, request: HttpRequest, queryset: QuerySet[LedgerEntry]) -> None:
        _refund(
            self,
            request,
            list(queryset.filter(kind=LedgerKind.PAYMENT).select_related("licence", "publisher")),
        )

    def has_refund_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(REFUND)


@admin.register(Licence)
class LicenceAdmin(ReadOnlyAdmin):
    list_display = [
        "user",
        "product",
        "tier_name",
        "status",
        "source",
        "current_period_end",
        "cancel_at_period_end",
    ]
    list_filter = ["status", "source"]
    search_fields = ["user__email", "product__name", "stripe_subscription_id", "stripe_payment_intent_id"]
    list_select_related = ["user", "product"]
    actions = ["refund_latest_payment"]
    change_list_template = "billing/admin/licence_change_list.html"

    def get_urls(self) -> list[URLPattern]:
        grant = path("grant/", self.admin_site.admin_view(self.grant_view), name="billing_licence_grant")
        return [grant, *super().get_urls()]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra_context = {**(extra_context or {}), "can_grant": request.user.has_perm(GRANT)}
        return super().changelist_view(request, extra_context)

    def grant_view(self, request: HttpRequest) -> HttpResponse:
        """Grant a licence ("granted by the store") through the same service as every licence."""
        if not request.user.has_perm(GRANT):
            raise PermissionDenied
        form = GrantLicenceForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            customer: User = form.cleaned_data["email"]
            try:
                licence = services.licence_grant(
                    actor=cast(User, request.user),
                    user=customer,
                    tier=form.cleaned_data["tier"],
                    period_end=form.period_end(),
                    reason=form.cleaned_data["reason"],
                )
            except ValidationError as exc:
                if hasattr(exc, "error_dict"):
                    exc = ValidationError(" ".join(exc.messages))
                form.add_error(None, exc)
            else:
                self.message_user(
                    request, f"Licence granted: {licence}. The customer has been told by email."
                )
                return redirect("admin:billing_licence_changelist")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Grant a licence",
            "form": form,
        }
        return TemplateResponse(request, "billing/admin/licence_grant.html", context)

    @admin.action(description="Refund the latest payment of the selected licences", permissions=["refund"])
    def refund_latest_payment(self, request: HttpRequest, queryset: QuerySet[Licence]) -> None:
        payments = []
        for licence in queryset:
            payment = (
                LedgerEntry.objects.filter(kind=LedgerKind.PAYMENT, licence=licence)
                .select_related("licence", "publisher")
                .order_by("-occurred_at", "-id")
                .first()
            )
            if payment is None:
                self.message_user(request, f"{licence}: no payment to refund.", messages.WARNING)
            else:
                payments.append(payment)
        _refund(self, request, payments)

    def has_refund_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(REFUND)


@admin.register(StripeEvent)
class StripeEventAdmin(ReadOnlyAdmin):
    list_display = ["event_id", "type", "received_at", "processed_at", "attempts", "outcome"]
    list_filter = ["type", ("processed_at", admin.EmptyFieldListFilter)]
    search_fields = ["event_id"]
    actions = ["replay"]

    @admin.action(description="Replay the selected events", permissions=["replay"])
    def replay(self, request: HttpRequest, queryset: QuerySet[StripeEvent]) -> None:
        for event in queryset:
            try:
                outcome = services.event_replay(event=event)
            except gateway.GatewayError as exc:
                self.message_user(request, f"{event}: {exc.message}", messages.ERROR)
            else:
                self.message_user(request, f"{event}: {outcome}")

    def has_replay_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_superuser)


@admin.register(PayoutAccount)
class PayoutAccountAdmin(ReadOnlyAdmin):
    list_display = [
        "publisher",
        "stripe_account_id",
        "charges_enabled",
        "payouts_enabled",
        "details_submitted",
    ]
    list_select_related = ["publisher"]


@admin.register(StripePrice)
class StripePriceAdmin(ReadOnlyAdmin):
    list_display = ["stripe_price_id", "stripe_product", "unit_amount", "currency", "interval", "created_at"]

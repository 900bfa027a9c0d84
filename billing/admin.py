"""Billing in Django admin: licences, the ledger (read-only, with refunds), Stripe events (with replay).

Money is never edited by hand: refunds go through ``billing.services.payment_refund`` exactly as
the publisher's sales page does, and events are replayed through the same idempotent handlers.
"""

from __future__ import annotations

from typing import Any, cast

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.models import User
from billing import gateway, services
from billing.models import LedgerEntry, LedgerKind, Licence, PayoutAccount, StripeEvent, StripePrice

REFUND = "billing.refund_payment"


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

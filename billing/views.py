"""Billing pages: getting and buying tiers, My licences, payouts and sales, and Stripe's webhook."""

from __future__ import annotations

import logging
import uuid
from typing import cast

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from accounts.models import User
from billing import gateway, selectors, services, tasks
from billing.models import LicenceStatus, OrderStatus
from listings import selectors as listing_selectors
from listings.models import Product
from publishers.models import Role
from publishers.selectors import get_publisher_for_member

logger = logging.getLogger(__name__)


def registry_host() -> str:
    return getattr(settings, "REGISTRY_PUBLIC_HOST", "registry.localhost:5000")


def _actor(request: HttpRequest) -> User:
    return cast(User, request.user)


def _message(exc: ValidationError) -> str:
    return " ".join(exc.messages)


# ---------------------------------------------------------------------------------------------
# Stripe


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> HttpResponse:
    """Verify on the raw body, keep the event once, process it after commit in a task."""
    try:
        payload = gateway.verify_webhook(request.body, request.headers.get("Stripe-Signature", ""))
    except gateway.InvalidWebhook as exc:
        logger.warning("Refused a Stripe webhook: %s", exc)
        return HttpResponseBadRequest("Invalid Stripe webhook.")
    event, created = services.event_store(payload)
    if created:
        transaction.on_commit(lambda: tasks.process_event.delay(event.pk), robust=True)
    return JsonResponse({"received": True, "duplicate": not created})


# ---------------------------------------------------------------------------------------------
# Getting and buying


def product_tiers(request: HttpRequest, namespace: str, slug: str) -> HttpResponse:
    """The tiers of a product with what the visitor can do with each."""
    product = listing_selectors.get_public_product(namespace, slug)
    revision = product.live_revision
    return render(
        request,
        "billing/product_tiers.html",
        {"product": product, "revision": revision, "tiers": revision.tier_list},  # type: ignore[union-attr]
    )


def _back_to(product: Product, request: HttpRequest) -> str:
    """``next`` when it is a path of this site, else the product page; never an open redirect.

    A bare prefix check is not enough: browsers read ``/\\host`` and ``/<tab>/host`` as ``//host``.
    """
    target = request.POST.get("next", "")
    if target.startswith("/") and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return product.get_absolute_url()


@login_required
@require_POST
def get_tier(request: HttpRequest, product_id: int, tier_key: uuid.UUID) -> HttpResponse:
    tier = selectors.get_live_tier_by_key(product_id, tier_key)
    product = tier.revision.product
    try:
        services.licence_accept(
            user=_actor(request),
            tier=tier,
            accepted=request.POST.get("accept_licence") in ("on", "1", "true"),
        )
    except ValidationError as exc:
        messages.error(request, _message(exc))
        return redirect(_back_to(product, request))
    messages.success(request, f"{product.name} · {tier.name} is yours: see the pull command below.")
    return redirect("billing:licences")


@login_required
@require_POST
def checkout(request: HttpRequest, product_id: int, tier_key: uuid.UUID) -> HttpResponse:
    tier = selectors.get_live_tier_by_key(product_id, tier_key)
    product = tier.revision.product
    try:
        order = services.checkout_start(user=_actor(request), tier=tier)
    except ValidationError as exc:
        messages.error(request, _message(exc))
        return redirect(_back_to(product, request))
    except gateway.GatewayError as exc:
        messages.error(request, exc.message)
        return redirect(_back_to(product, request))
    return redirect(order.checkout_url)


@login_required
@require_GET
def checkout_success(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    order = selectors.get_order_for_user(request.user, public_id)
    licence = order.licence
    tier = services.tier_for_licence(licence) if licence is not None else None
    can_pull = licence is not None and selectors.may_pull_licensed(
        user=request.user, licence=licence, live_tier=tier
    )
    return render(
        request,
        "billing/checkout_success.html",
        {
            "order": order,
            "licence": licence,
            "tier": tier,
            "can_pull": can_pull,
            "registry_host": registry_host(),
        },
    )


@login_required
@require_GET
def checkout_status(request: HttpRequest, public_id: uuid.UUID) -> JsonResponse:
    order = selectors.get_order_for_user(request.user, public_id)
    licence = order.licence
    return JsonResponse(
        {
            "order": order.status,
            "licence": licence.status if licence is not None else None,
            "ready": order.status == OrderStatus.COMPLETED and licence is not None,
        }
    )


@login_required
def checkout_cancel(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    order = selectors.get_order_for_user(request.user, public_id)
    services.order_cancel(order=order)
    messages.info(request, "Checkout cancelled: nothing was charged.")
    return redirect(order.product)


# ---------------------------------------------------------------------------------------------
# My licences


@login_required
def licences(request: HttpRequest) -> HttpResponse:
    user_licences = list(selectors.licences_for_user(request.user))
    tiers = selectors.live_tiers_for(user_licences)
    rows = []
    for lic in user_licences:
        tier = tiers.get((lic.product_id, lic.tier_key))
        can_pull = selectors.may_pull_licensed(user=request.user, licence=lic, live_tier=tier)
        rows.append({"licence": lic, "tier": tier, "can_pull": can_pull})
    return render(
        request,
        "billing/licences.html",
        {
            "rows": rows,
            "registry_host": registry_host(),
            "has_customer": any(lic.stripe_customer_id for lic in user_licences),
            "cancellable": (LicenceStatus.ACTIVE, LicenceStatus.TRIALING, LicenceStatus.PAST_DUE),
        },
    )


@login_required
@require_POST
def licence_cancel(request: HttpRequest, licence_id: int) -> HttpResponse:
    licence = selectors.get_licence_for_user(request.user, licence_id)
    try:
        licence = services.licence_cancel(user=_actor(request), licence=licence)
    except ValidationError as exc:
        messages.error(request, _message(exc))
    except gateway.GatewayError as exc:
        messages.error(request, exc.message)
    else:
        if licence.cancel_at_period_end and licence.current_period_end:
            messages.success(
                request,
                f"{licence.tier_name} is cancelled; you keep access until {licence.current_period_end:%d %B %Y}.",
            )
        else:
            messages.success(request, f"{licence.tier_name} is cancelled.")
    return redirect("billing:licences")


@login_required
@require_POST
def billing_portal(request: HttpRequest) -> HttpResponse:
    try:
        url = services.billing_portal_url(
            user=_actor(request), return_url=f"{settings.SITE_URL}{reverse('billing:licences')}"
        )
    except ValidationError as exc:
        messages.error(request, _message(exc))
        return redirect("billing:licences")
    except gateway.GatewayError as exc:
        messages.error(request, exc.message)
        return redirect("billing:licences")
    return redirect(url)


# ---------------------------------------------------------------------------------------------
# Publishers: payouts and sales


@login_required
def payouts(request: HttpRequest, namespace: str) -> HttpResponse:
    publisher = get_publisher_for_member(request.user, namespace)
    is_owner = publisher.membership.role_enum.at_least(Role.OWNER)  # type: ignore[attr-defined]
    if request.method == "POST":
        if not is_owner:
            raise PermissionDenied("Only the publisher's owners connect a payout account.")
        try:
            url = services.payout_onboarding_link(actor=_actor(request), publisher=publisher)
        except gateway.GatewayError as exc:
            messages.error(request, exc.message)
            return redirect("billing:payouts", namespace)
        return redirect(url)
    account = selectors.payout_account(publisher)
    if account is not None and "return" in request.GET and gateway.is_configured():
        try:
            account = services.payout_account_refresh(account=account)
        except gateway.GatewayError as exc:
            messages.error(request, exc.message)
    return render(
        request,
        "billing/payouts.html",
        {
            "publisher": publisher,
            "account": account,
            "is_owner": is_owner,
            "configured": gateway.is_configured(),
            "share": services.revenue_share_percent(),
        },
    )


@login_required
def sales(request: HttpRequest, namespace: str) -> HttpResponse:
    publisher = get_publisher_for_member(request.user, namespace)
    entries = list(selectors.sales_entries(publisher)[:200])
    return render(
        request,
        "billing/sales.html",
        {
            "publisher": publisher,
            "entries": entries,
            "totals": selectors.sales_totals(publisher),
            "cancellations": selectors.cancellations(publisher)[:200],
            "is_owner": publisher.membership.role_enum.at_least(Role.OWNER),  # type: ignore[attr-defined]
            "share": services.revenue_share_percent(),
        },
    )


@login_required
@require_POST
def sales_refund(request: HttpRequest, namespace: str, entry_id: int) -> HttpResponse:
    publisher = get_publisher_for_member(request.user, namespace, min_role=Role.OWNER)
    payment = selectors.get_payment_for_publisher(publisher, entry_id)
    try:
        services.payment_refund(actor=_actor(request), payment=payment, reason=request.POST.get("reason", ""))
    except ValidationError as exc:
        messages.error(request, _message(exc))
    except gateway.GatewayError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request, "Refund requested; the licence shows as refunded as soon as Stripe confirms it."
        )
    return redirect("billing:sales", namespace)

"""Writes of billing: licences, checkout, refunds, payouts, the Stripe catalog and webhook events.

Each write records its audit event in the same transaction. Stripe is reached only through
``billing.gateway``; every call that creates something carries an idempotency key built from our
own ids, so a retry after a timeout never makes a second session, price or refund.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent, EventType
from audit.services import record
from billing import gateway
from billing.models import (
    LedgerEntry,
    LedgerKind,
    Licence,
    LicenceSource,
    LicenceStatus,
    Order,
    OrderStatus,
    PayoutAccount,
    StripeEvent,
    StripePrice,
    StripeProduct,
)
from billing.selectors import current_tier, licence_for, refunded_amount
from listings.models import Billing, Product, ProductStatus, Revision, Tier

if TYPE_CHECKING:
    from accounts.models import User
    from publishers.models import Publisher

logger = logging.getLogger(__name__)

INTERVALS = {Billing.ONE_OFF: "", Billing.MONTHLY: "month", Billing.YEARLY: "year"}
# An unpaid order's Checkout Session is reused for this long, so a second click does not open a
# second session (Stripe keeps sessions open for 24 hours).
ORDER_REUSE = timedelta(hours=1)


class NotReady(Exception):
    """The event refers to something we have not recorded yet; the reconcile task replays it."""


def revenue_share_percent() -> Decimal:
    """The store's share of every sale, in percent, taken as the Stripe application fee."""
    return Decimal(str(getattr(settings, "STORE_REVENUE_SHARE_PERCENT", "20")))


def minor_units(amount: Decimal) -> int:
    return int((amount * 100).quantize(Decimal("1"), rounding=ROUND_HALF_UP))


def store_fee(amount_before_tax: int) -> int:
    share = revenue_share_percent()
    return int((Decimal(amount_before_tax) * share / 100).quantize(Decimal("1"), rounding=ROUND_HALF_UP))


def _site_url(path: str) -> str:
    return f"{settings.SITE_URL}{path}"


def _notify(kind: str, licence: Licence, **data: Any) -> None:
    """Email the customer about ``licence`` once the current transaction commits (see
    ``billing.tasks.send_licence_email`` for the kinds). A rolled-back write sends nothing."""
    from billing import tasks  # tasks import this module

    licence_id = licence.pk
    transaction.on_commit(lambda: tasks.send_licence_email.delay(kind, licence_id, data), robust=True)


def _first_notice(event_type: EventType, licence: Licence, notice: str) -> bool:
    """Whether the audit log has no ``event_type`` about ``licence`` for ``notice`` yet: the notices
    that are not tied to a ledger row (failed payments, trials ending) are sent once each."""
    return not AuditEvent.objects.filter(
        event_type=event_type,
        target_type=licence._meta.label_lower,
        target_id=str(licence.pk),
        data__notice=notice,
    ).exists()


# ---------------------------------------------------------------------------------------------
# Catalog: Stripe Products and Prices per (product, tier key)


def price_for_tier(*, product: Product, tier: Tier) -> StripePrice:
    """The Stripe Price for ``tier``'s current amount, creating Product and Price when missing.

    Idempotent: the same amount, currency and interval always answer the same Price. A changed
    price makes a new one; subscriptions on the old Price keep it.
    """
    stripe_product = StripeProduct.objects.filter(product=product, tier_key=tier.key).first()
    name = f"{product.name} · {tier.name}"
    metadata = {"product_id": str(product.pk), "tier_key": str(tier.key)}
    if stripe_product is None:
        created = gateway.create_product(
            name=name, metadata=metadata, idempotency_key=f"product:{product.pk}:{tier.key}"
        )
        stripe_product, _ = StripeProduct.objects.get_or_create(
            product=product,
            tier_key=tier.key,
            defaults={"stripe_product_id": created["id"], "name": name},
        )
    elif stripe_product.name != name:
        gateway.update_product(
            stripe_product.stripe_product_id,
            name=name,
            idempotency_key=f"product-name:{stripe_product.pk}:{uuid.uuid5(uuid.NAMESPACE_URL, name)}",
        )
        stripe_product.name = name
        stripe_product.save(update_fields=["name"])
    amount = minor_units(tier.price)
    currency = tier.currency.lower()
    interval = INTERVALS[Billing(tier.billing)]
    price = StripePrice.objects.filter(
        stripe_product=stripe_product, unit_amount=amount, currency=currency, interval=interval
    ).first()
    if price is not None:
        return price
    created = gateway.create_price(
        product_id=stripe_product.stripe_product_id,
        unit_amount=amount,
        currency=currency,
        interval=interval,
        metadata=metadata,
        idempotency_key=f"price:{product.pk}:{tier.key}:{amount}:{currency}:{interval or 'once'}",
    )
    price, _ = StripePrice.objects.get_or_create(
        stripe_product=stripe_product,
        unit_amount=amount,
        currency=currency,
        interval=interval,
        defaults={"stripe_price_id": created["id"]},
    )
    return price


def catalog_sync_for_revision(*, revision: Revision) -> list[StripePrice]:
    """Make sure every paid tier of ``revision`` has its Stripe Product and Price.

    Call when a revision is approved (the prices customers will pay are then fixed). Does nothing
    when Stripe is not configured: checkout creates the Price on first use instead.
    """
    if not gateway.is_configured():
        return []
    product = revision.product
    prices = [
        price_for_tier(product=product, tier=tier)
        for tier in revision.tiers.order_by("position", "id")
        if not tier.is_free
    ]
    if prices:
        record(
            event_type=EventType.CATALOG_SYNCED,
            publisher=product.publisher,
            target=product,
            data={"revision": revision.number, "prices": [p.stripe_price_id for p in prices]},
        )
    return prices


# ---------------------------------------------------------------------------------------------
# Licences


def _check_on_sale(tier: Tier) -> Product:
    product = tier.revision.product
    if product.live_revision_id != tier.revision_id:
        raise ValidationError("This tier is no longer offered.", code="not_offered")
    if product.status == ProductStatus.ON_HOLD:
        raise ValidationError(
            "This product is on hold for security issues; new licences are paused until it is fixed.",
            code="on_hold",
        )
    if product.status != ProductStatus.PUBLISHED:
        raise ValidationError("This product is not available.", code="not_available")
    return product


def _set_status(licence: Licence, status: LicenceStatus, *, reason: str, actor: User | None = None) -> None:
    if licence.status == status:
        return
    before = licence.status
    licence.status = status
    licence.save(update_fields=["status", "updated_at"])
    record(
        event_type=EventType.LICENCE_STATUS_CHANGED,
        actor=actor,
        publisher=licence.product.publisher,
        target=licence,
        data={"from": before, "to": status, "reason": reason, "tier": licence.tier_name},
    )


def _locked_licence(
    *, user_id: int, product: Product, tier_key: uuid.UUID, defaults: dict[str, Any]
) -> tuple[Licence, bool]:
    """The licence row for (user, product, tier key), locked; created from ``defaults`` if missing."""
    try:
        with transaction.atomic():
            licence, created = Licence.objects.get_or_create(
                user_id=user_id, product=product, tier_key=tier_key, defaults=defaults
            )
    except IntegrityError:  # created by a concurrent event between our read and insert
        created = False
    licence = (
        Licence.objects.select_for_update()
        .select_related("product__publisher")
        .get(user_id=user_id, product=product, tier_key=tier_key)
    )
    return licence, created


def _snapshot(tier: Tier) -> dict[str, Any]:
    return {"tier_name": tier.name, "price": tier.price, "currency": tier.currency, "billing": tier.billing}


@transaction.atomic
def licence_accept(*, user: User, tier: Tier, accepted: bool) -> Licence:
    """Grant a free tier at once. When the tier requires it, ``accepted`` must say the customer
    accepted the licence agreement; the agreement's link and revision are recorded."""
    product = _check_on_sale(tier)
    if not tier.is_free:
        raise ValidationError("This tier has a price; buy it or start its trial instead.", code="paid_tier")
    revision = tier.revision
    if tier.licence_required and not accepted:
        raise ValidationError(
            {"accept_licence": ["Accept the licence agreement to get this tier."]},
            code="licence_not_accepted",
        )
    now = timezone.now()
    licence, created = _locked_licence(
        user_id=user.pk,
        product=product,
        tier_key=tier.key,
        defaults={**_snapshot(tier), "source": LicenceSource.FREE, "status": LicenceStatus.ACTIVE},
    )
    if not created and licence.allows_pull:
        return licence
    licence.status = LicenceStatus.ACTIVE
    licence.source = LicenceSource.FREE
    licence.current_period_end = None
    licence.cancel_at_period_end = False
    for name, value in _snapshot(tier).items():
        setattr(licence, name, value)
    if tier.licence_required:
        licence.licence_url = revision.licence_url
        licence.licence_version = f"revision {revision.number}"
        licence.licence_accepted_at = now
    licence.save()
    record(
        event_type=EventType.LICENCE_GRANTED,
        actor=user,
        publisher=product.publisher,
        target=licence,
        data={
            "source": LicenceSource.FREE,
            "tier": tier.name,
            "tier_key": str(tier.key),
            "licence_version": licence.licence_version,
            "licence_url": licence.licence_url,
        },
    )
    _notify("licence_granted", licence)
    return licence


@transaction.atomic
def licence_grant(
    *, actor: User, user: User, tier: Tier, period_end: datetime | None = None, reason: str = ""
) -> Licence:
    """Store staff give ``user`` the tier without payment (support cases, partners), until
    ``period_end`` or for good. Audited with the reason; the customer is told by email."""
    product = tier.revision.product
    if product.live_revision_id != tier.revision_id:
        raise ValidationError("Only tiers of the live listing can be granted.", code="not_offered")
    if product.status not in (ProductStatus.PUBLISHED, ProductStatus.ON_HOLD):
        raise ValidationError("This product is not available, so its tiers cannot be granted.")
    if period_end is not None and period_end <= timezone.now():
        raise ValidationError({"period_end": ["The end of the licence must be in the future."]})
    if not user.is_active:
        raise ValidationError("This account is deactivated.", code="inactive_user")
    licence, created = _locked_licence(
        user_id=user.pk,
        product=product,
        tier_key=tier.key,
        defaults={**_snapshot(tier), "source": LicenceSource.STAFF},
    )
    if not created and licence.stripe_subscription_id and licence.allows_pull:
        raise ValidationError(
            "This customer pays for this tier by subscription; Stripe's events would override a grant. "
            "Cancel or refund the subscription first.",
            code="subscribed",
        )
    before = licence.status
    if created or not licence.allows_pull:
        for name, value in _snapshot(tier).items():
            setattr(licence, name, value)
    licence.status = LicenceStatus.ACTIVE
    licence.source = LicenceSource.STAFF
    licence.current_period_end = period_end
    licence.cancel_at_period_end = False
    licence.save()
    record(
        event_type=EventType.LICENCE_GRANTED,
        actor=actor,
        publisher=product.publisher,
        target=licence,
        data={
            "source": LicenceSource.STAFF,
            "tier": tier.name,
            "tier_key": str(tier.key),
            "user": user.email,
            "status_before": "" if created else before,
            "period_end": period_end.isoformat() if period_end else None,
            "reason": reason,
        },
    )
    _notify("licence_granted", licence)
    return licence


def licence_cancel(*, user: User, licence: Licence) -> Licence:
    """Stop a licence. Subscriptions run to the end of the paid period (Stripe is told to cancel
    then); free and one-off licences end now."""
    if licence.status not in (LicenceStatus.ACTIVE, LicenceStatus.TRIALING, LicenceStatus.PAST_DUE):
        raise ValidationError("This licence is not active.", code="not_active")
    if licence.cancel_at_period_end:
        return licence
    if licence.source == LicenceSource.PURCHASE and not licence.stripe_subscription_id:
        raise ValidationError(
            "A one-off purchase has nothing to renew, so nothing to cancel; ask the publisher for a refund.",
            code="one_off",
        )
    if licence.stripe_subscription_id:
        gateway.cancel_subscription_at_period_end(
            licence.stripe_subscription_id,
            idempotency_key=f"cancel:{licence.pk}:{licence.stripe_subscription_id}",
        )
    with transaction.atomic():
        licence = Licence.objects.select_for_update().select_related("product__publisher").get(pk=licence.pk)
        if licence.stripe_subscription_id:
            licence.cancel_at_period_end = True
            licence.save(update_fields=["cancel_at_period_end", "updated_at"])
        record(
            event_type=EventType.LICENCE_CANCEL_REQUESTED,
            actor=user,
            publisher=licence.product.publisher,
            target=licence,
            data={"tier": licence.tier_name, "at_period_end": bool(licence.stripe_subscription_id)},
        )
        if not licence.stripe_subscription_id:
            _set_status(licence, LicenceStatus.CANCELLED, reason="cancelled by the customer", actor=user)
    return licence


def billing_portal_url(*, user: User, return_url: str) -> str:
    customer = (
        Licence.objects.filter(user=user)
        .exclude(stripe_customer_id="")
        .order_by("-updated_at")
        .values_list("stripe_customer_id", flat=True)
        .first()
    )
    if not customer:
        raise ValidationError("You have no payments with the store yet, so there is no billing account.")
    return gateway.create_billing_portal_session(customer=customer, return_url=return_url)


# ---------------------------------------------------------------------------------------------
# Checkout


def checkout_start(*, user: User, tier: Tier) -> Order:
    """A Stripe Checkout Session for a paid tier; the order carries its ``checkout_url``.

    One-off tiers use ``mode=payment`` with the store fee as an amount; monthly and yearly tiers
    use ``mode=subscription`` with the fee as a percent and the trial (only for a first licence).
    Both send the money to the publisher's connected account and ask Stripe to compute tax.
    """
    product = _check_on_sale(tier)
    if tier.is_free:
        raise ValidationError("This tier is free; get it without checkout.", code="free_tier")
    existing = licence_for(user, product, tier.key)
    if existing is not None and existing.allows_pull:
        raise ValidationError("You already have this tier; see My licences.", code="already_licensed")
    if not gateway.is_configured():
        raise gateway.NotConfigured()
    from billing.selectors import payout_account

    account = payout_account(product.publisher)
    if account is None or not account.ready:
        raise ValidationError(
            f"{product.publisher} cannot take payments yet; try again later.", code="payouts_disabled"
        )
    price = price_for_tier(product=product, tier=tier)
    trial_days = tier.trial_days if tier.billing != Billing.ONE_OFF and existing is None else 0
    with transaction.atomic():
        order = (
            Order.objects.select_for_update()
            .filter(
                user=user,
                product=product,
                tier_key=tier.key,
                status=OrderStatus.OPEN,
                stripe_price_id=price.stripe_price_id,
                trial_days=trial_days,
                created_at__gte=timezone.now() - ORDER_REUSE,
            )
            .first()
        )
        if order is None:
            order = Order.objects.create(
                user=user,
                product=product,
                tier_key=tier.key,
                trial_days=trial_days,
                stripe_price_id=price.stripe_price_id,
                **_snapshot(tier),
            )
    if order.checkout_url:
        return order
    session = gateway.create_checkout_session(
        _session_params(order, user=user, price=price, account_id=account.stripe_account_id),
        idempotency_key=f"checkout:{order.pk}",
    )
    with transaction.atomic():
        order.stripe_session_id = session["id"]
        order.checkout_url = session["url"]
        order.save(update_fields=["stripe_session_id", "checkout_url"])
        record(
            event_type=EventType.CHECKOUT_STARTED,
            actor=user,
            publisher=product.publisher,
            target=order,
            data={"tier": order.tier_name, "price": str(order.price), "currency": order.currency},
        )
    return order


def _session_params(order: Order, *, user: User, price: StripePrice, account_id: str) -> dict[str, Any]:
    metadata = {
        "order_id": str(order.pk),
        "user_id": str(user.pk),
        "product_id": str(order.product_id),
        "tier_key": str(order.tier_key),
    }
    params: dict[str, Any] = {
        "line_items": [{"price": price.stripe_price_id, "quantity": 1}],
        "success_url": _site_url(reverse("billing:checkout_success", args=[order.public_id]))
        + "?session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": _site_url(reverse("billing:checkout_cancel", args=[order.public_id])),
        "client_reference_id": str(order.pk),
        "metadata": metadata,
        "automatic_tax": {"enabled": True},
    }
    customer = (
        Licence.objects.filter(user=user)
        .exclude(stripe_customer_id="")
        .values_list("stripe_customer_id", flat=True)
        .first()
    )
    if customer:
        params["customer"] = customer
        params["customer_update"] = {"address": "auto"}
    else:
        params["customer_email"] = user.email
    share = revenue_share_percent()
    if price.interval:
        subscription: dict[str, Any] = {
            "application_fee_percent": format(share.normalize(), "f"),
            "transfer_data": {"destination": account_id},
            "metadata": metadata,
        }
        if order.trial_days:
            subscription["trial_period_days"] = order.trial_days
        params.update(mode="subscription", subscription_data=subscription)
    else:
        params.update(
            mode="payment",
            payment_intent_data={
                "application_fee_amount": store_fee(price.unit_amount),
                "transfer_data": {"destination": account_id},
                "metadata": metadata,
            },
        )
        if not customer:
            params["customer_creation"] = "always"
    return params


@transaction.atomic
def order_cancel(*, order: Order) -> Order:
    """The customer left Stripe's checkout page without paying."""
    order = Order.objects.select_for_update().get(pk=order.pk)
    if order.status == OrderStatus.OPEN:
        order.status = OrderStatus.CANCELLED
        order.save(update_fields=["status"])
    return order


# ---------------------------------------------------------------------------------------------
# Refunds


def payment_refund(*, actor: User, payment: LedgerEntry, reason: str = "") -> dict[str, Any]:
    """Refund what is left of ``payment``; the transfer and the store fee are reversed with it.

    The licence becomes refunded when Stripe's ``charge.refunded`` arrives. A subscription is
    cancelled at once, so a refunded customer is not charged again.
    """
    if payment.kind != LedgerKind.PAYMENT:
        raise ValidationError("Only payments can be refunded.")
    if not payment.payment_intent_id:
        raise ValidationError("This payment has no Stripe payment to refund; use Stripe's dashboard.")
    remaining = payment.amount - refunded_amount(payment)
    if remaining <= 0:
        raise ValidationError("This payment has already been refunded.", code="already_refunded")
    refund = gateway.create_refund(
        payment_intent=payment.payment_intent_id,
        amount=None if remaining == payment.amount else remaining,
        metadata={"ledger_entry_id": str(payment.pk), "licence_id": str(payment.licence_id or "")},
        idempotency_key=f"refund:{payment.pk}:{remaining}",
    )
    licence = payment.licence
    if licence is not None and licence.stripe_subscription_id:
        gateway.cancel_subscription_now(
            licence.stripe_subscription_id, idempotency_key=f"refund-cancel:{licence.pk}:{payment.pk}"
        )
    record(
        event_type=EventType.REFUND_REQUESTED,
        actor=actor,
        publisher=payment.publisher,
        target=payment,
        data={
            "refund": refund.get("id", ""),
            "amount": remaining,
            "currency": payment.currency,
            "payment_intent": payment.payment_intent_id,
            "reason": reason,
        },
    )
    return refund


# ---------------------------------------------------------------------------------------------
# Connect


def _apply_account(account: PayoutAccount, data: dict[str, Any]) -> PayoutAccount:
    before = (account.charges_enabled, account.payouts_enabled, account.details_submitted)
    account.charges_enabled = bool(data.get("charges_enabled"))
    account.payouts_enabled = bool(data.get("payouts_enabled"))
    account.details_submitted = bool(data.get("details_submitted"))
    account.requirements_due = list((data.get("requirements") or {}).get("currently_due") or [])
    account.save()
    after = (account.charges_enabled, account.payouts_enabled, account.details_submitted)
    if before != after:
        record(
            event_type=EventType.PAYOUTS_STATUS_CHANGED,
            publisher=account.publisher,
            target=account,
            data={
                "charges_enabled": account.charges_enabled,
                "payouts_enabled": account.payouts_enabled,
                "details_submitted": account.details_submitted,
            },
        )
    return account


def payout_onboarding_link(*, actor: User, publisher: Publisher) -> str:
    """A Stripe-hosted onboarding link for the publisher's Express account (made on first use)."""
    account = PayoutAccount.objects.filter(publisher=publisher).first()
    if account is None:
        created = gateway.create_express_account(
            email=publisher.company_email,
            metadata={"publisher_id": str(publisher.pk), "namespace": publisher.namespace},
            idempotency_key=f"account:{publisher.pk}",
        )
        with transaction.atomic():
            account, _ = PayoutAccount.objects.get_or_create(
                publisher=publisher, defaults={"stripe_account_id": created["id"]}
            )
            record(
                event_type=EventType.PAYOUTS_ONBOARDING_STARTED,
                actor=actor,
                publisher=publisher,
                target=account,
                data={"account": account.stripe_account_id},
            )
    page = _site_url(reverse("billing:payouts", args=[publisher.namespace]))
    return gateway.create_account_link(
        account=account.stripe_account_id, refresh_url=f"{page}?refresh=1", return_url=f"{page}?return=1"
    )


@transaction.atomic
def payout_account_refresh(*, account: PayoutAccount) -> PayoutAccount:
    account = PayoutAccount.objects.select_for_update().select_related("publisher").get(pk=account.pk)
    return _apply_account(account, gateway.retrieve_account(account.stripe_account_id))


# ---------------------------------------------------------------------------------------------
# Webhook events


def event_store(payload: dict[str, Any]) -> tuple[StripeEvent, bool]:
    """Keep a verified event once; the second delivery of the same id answers ``created=False``."""
    return StripeEvent.objects.get_or_create(
        event_id=str(payload["id"]),
        defaults={
            "type": str(payload.get("type", ""))[:100],
            "created": int(payload.get("created") or 0),
            "payload": payload,
        },
    )


def event_process(*, event_pk: int) -> str:
    """Run the handler of one stored event, once. Raises GatewayError when Stripe could not be
    asked, so the task retries; an event whose subject we have not seen yet stays unprocessed for
    the reconcile task."""
    failure: gateway.GatewayError | None = None
    with transaction.atomic():
        event = StripeEvent.objects.select_for_update().get(pk=event_pk)
        if event.processed_at is not None:
            return event.outcome
        event.attempts += 1
        try:
            with transaction.atomic():
                handler = HANDLERS.get(event.type)
                outcome = handler(event.payload["data"]["object"]) if handler else "ignored: unhandled type"
                event.processed_at = timezone.now()
        except NotReady as exc:
            outcome = f"waiting: {exc}"
        except gateway.GatewayError as exc:
            outcome = f"failed: {exc.message}"
            failure = exc
        except (KeyError, TypeError, ValueError) as exc:
            # A payload we cannot read will not get better by retrying; keep it for a person.
            outcome = f"unreadable: {exc!r}"
            event.processed_at = timezone.now()
            logger.exception("Stripe event %s could not be read", event.event_id)
        event.outcome = outcome[:2000]
        event.save(update_fields=["processed_at", "attempts", "outcome"])
    if failure is not None:
        raise failure
    return outcome


def event_replay(*, event: StripeEvent) -> str:
    """Run an event again (admin action). Handlers are idempotent, so this changes nothing that
    was already applied."""
    StripeEvent.objects.filter(pk=event.pk).update(processed_at=None)
    return event_process(event_pk=event.pk)


def events_reconcile(
    *, since: timedelta = timedelta(days=3), settle: timedelta = timedelta(minutes=2)
) -> int:
    """Store events Stripe has that we never received, then process every unprocessed one older
    than ``settle`` (newer ones are still on their way through the queue). Returns how many ran."""
    if gateway.is_configured():
        created_after = int((timezone.now() - since).timestamp())
        for payload in gateway.list_events(created_after=created_after):
            event_store(payload)
    pending = StripeEvent.objects.filter(processed_at__isnull=True, received_at__lte=timezone.now() - settle)
    count = 0
    for pk in pending.order_by("created", "id").values_list("pk", flat=True):
        try:
            event_process(event_pk=pk)
        except gateway.GatewayError:
            logger.warning("Stripe event %s still fails", pk)
        count += 1
    return count


def _order(reference: Any) -> Order | None:
    try:
        pk = int(reference)
    except (TypeError, ValueError):
        return None
    return Order.objects.select_related("product__publisher", "user").filter(pk=pk).first()


def _ts(value: Any) -> datetime | None:
    return datetime.fromtimestamp(int(value), tz=UTC) if value else None


def _licence_from_order(order: Order, *, source: LicenceSource) -> Licence:
    licence, created = _locked_licence(
        user_id=order.user_id,
        product=order.product,
        tier_key=order.tier_key,
        defaults={
            "tier_name": order.tier_name,
            "price": order.price,
            "currency": order.currency,
            "billing": order.billing,
            "source": source,
            "status": LicenceStatus.ACTIVE,
        },
    )
    if created:
        record(
            event_type=EventType.LICENCE_GRANTED,
            actor=order.user,
            publisher=order.product.publisher,
            target=licence,
            data={"source": source, "tier": order.tier_name, "order": order.pk},
        )
    return licence


def _licence_for_paid_order(order: Order) -> Licence:
    """The licence an order pays for. The first event of a new order brings back a licence that
    was refunded before (the customer bought again); replays of old events do not.

    The first event that completes a trial order emails "licence granted" (a trial has no
    payment, so no receipt); paid orders are announced by their receipt instead.
    """
    licence = _licence_from_order(order, source=LicenceSource.PURCHASE)
    if order.status != OrderStatus.COMPLETED and licence.status == LicenceStatus.REFUNDED:
        _set_status(licence, LicenceStatus.ACTIVE, reason=f"bought again (order {order.pk})")
    # Under the licence's row lock: exactly one event completes the order.
    first = (
        Order.objects.filter(pk=order.pk)
        .exclude(status=OrderStatus.COMPLETED)
        .update(status=OrderStatus.COMPLETED, licence=licence)
    )
    if not first:
        Order.objects.filter(pk=order.pk, licence__isnull=True).update(licence=licence)
    elif order.trial_days:
        _notify("licence_granted", licence)
    order.status = OrderStatus.COMPLETED
    return licence


def _record_payment(
    *,
    licence: Licence,
    object_id: str,
    payment_intent: str,
    gross: int,
    tax: int,
    currency: str,
    occurred_at: datetime,
    reason: str,
) -> bool:
    """Ledger rows for one payment (payment, tax, store fee, publisher share), their audit events
    and the customer's receipt. Returns False, writing nothing, when the payment was already
    recorded. ``reason`` is ``purchase`` for one-off payments, else the invoice's billing reason."""
    product = licence.product
    fee = store_fee(gross - tax)
    rows = {
        LedgerKind.PAYMENT: gross,
        LedgerKind.TAX: tax,
        LedgerKind.APPLICATION_FEE: fee,
        LedgerKind.TRANSFER: gross - tax - fee,
    }
    common = {
        "payment_intent_id": payment_intent,
        "publisher": product.publisher,
        "product": product,
        "tier_key": licence.tier_key,
        "tier_name": licence.tier_name,
        "customer_id": licence.user_id,
        "licence": licence,
        "currency": currency.upper(),
        "occurred_at": occurred_at,
    }
    try:
        with transaction.atomic():
            for kind, amount in rows.items():
                LedgerEntry.objects.create(kind=kind, stripe_object_id=object_id, amount=amount, **common)
    except IntegrityError:
        return False
    data = {
        "object": object_id,
        "payment_intent": payment_intent,
        "currency": currency.upper(),
        "gross": gross,
        "tax": tax,
        "store_fee": fee,
        "publisher_share": gross - tax - fee,
        "tier": licence.tier_name,
    }
    record(event_type=EventType.PAYMENT_RECEIVED, publisher=product.publisher, target=licence, data=data)
    if tax:
        record(
            event_type=EventType.TAX_RECORDED,
            publisher=product.publisher,
            target=licence,
            data={"object": object_id, "currency": currency.upper(), "tax": tax},
        )
    _notify("purchase_receipt", licence, object_id=object_id, reason=reason)
    return True


SUBSCRIPTION_STATUS = {
    "trialing": LicenceStatus.TRIALING,
    "active": LicenceStatus.ACTIVE,
    "past_due": LicenceStatus.PAST_DUE,
    "unpaid": LicenceStatus.PAST_DUE,
    "incomplete": LicenceStatus.PAST_DUE,
    "paused": LicenceStatus.PAST_DUE,
    "canceled": LicenceStatus.CANCELLED,
    "incomplete_expired": LicenceStatus.EXPIRED,
}


def _apply_subscription(licence: Licence, subscription: dict[str, Any]) -> None:
    """Make the licence match the subscription's current state, as Stripe answers it now.

    Refunded stays refunded: only a new purchase (a new order) brings the licence back.
    """
    items = (subscription.get("items") or {}).get("data") or [{}]
    period_end = _ts(items[0].get("current_period_end") or subscription.get("current_period_end"))
    licence.stripe_subscription_id = subscription["id"]
    licence.stripe_customer_id = str(subscription.get("customer") or licence.stripe_customer_id)
    licence.current_period_end = period_end
    licence.cancel_at_period_end = bool(subscription.get("cancel_at_period_end"))
    if subscription.get("status") == "trialing":
        licence.source = LicenceSource.TRIAL
    elif licence.source == LicenceSource.TRIAL:
        licence.source = LicenceSource.PURCHASE
    licence.save()
    status = SUBSCRIPTION_STATUS.get(str(subscription.get("status")), LicenceStatus.PAST_DUE)
    if licence.status != LicenceStatus.REFUNDED:
        _set_status(licence, status, reason=f"subscription {subscription.get('status')}")


def _on_checkout_completed(session: dict[str, Any]) -> str:
    order = _order((session.get("metadata") or {}).get("order_id") or session.get("client_reference_id"))
    if order is None:
        return f"ignored: session {session.get('id')} names no order of ours"
    if session.get("mode") == "subscription":
        licence = _licence_for_paid_order(order)
        licence.stripe_checkout_session_id = str(session.get("id", ""))
        _apply_subscription(licence, gateway.retrieve_subscription(str(session["subscription"])))
        return f"subscription {licence.stripe_subscription_id} applied to licence {licence.pk}"
    if session.get("payment_status") != "paid":
        return "waiting for a delayed payment"
    if order.status == OrderStatus.COMPLETED:
        return f"order {order.pk} was already applied"
    return _grant_one_off(order, session)


def _grant_one_off(order: Order, session: dict[str, Any]) -> str:
    licence = _licence_for_paid_order(order)
    payment_intent = str(session.get("payment_intent") or "")
    licence.source = LicenceSource.PURCHASE
    licence.current_period_end = None
    licence.cancel_at_period_end = False
    licence.stripe_payment_intent_id = payment_intent
    licence.stripe_checkout_session_id = str(session.get("id", ""))
    licence.stripe_customer_id = str(session.get("customer") or licence.stripe_customer_id)
    licence.save()
    _set_status(licence, LicenceStatus.ACTIVE, reason="paid")
    _record_payment(
        licence=licence,
        object_id=payment_intent or str(session["id"]),
        payment_intent=payment_intent,
        gross=int(session.get("amount_total") or 0),
        tax=int((session.get("total_details") or {}).get("amount_tax") or 0),
        currency=str(session.get("currency") or order.currency),
        occurred_at=_ts(session.get("created")) or timezone.now(),
        reason="purchase",
    )
    return f"one-off payment {payment_intent} granted licence {licence.pk}"


def _on_async_payment_failed(session: dict[str, Any]) -> str:
    order = _order((session.get("metadata") or {}).get("order_id"))
    if order is None:
        return "ignored: no order"
    order_cancel(order=order)
    return f"order {order.pk}: delayed payment failed"


def _subscription_licence(subscription_id: str, metadata: dict[str, Any]) -> Licence | None:
    licence = (
        Licence.objects.select_for_update()
        .select_related("product__publisher")
        .filter(stripe_subscription_id=subscription_id)
        .first()
    )
    if licence is not None:
        return licence
    order = _order(metadata.get("order_id"))
    if order is None:
        return None
    return _licence_for_paid_order(order)


def _invoice_subscription(invoice: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    # Since API 2025-03-31 the subscription lives under parent.subscription_details.
    details = (invoice.get("parent") or {}).get("subscription_details") or {}
    subscription = details.get("subscription") or invoice.get("subscription") or ""
    return str(subscription), dict(details.get("metadata") or {})


def _invoice_payment_intent(invoice: dict[str, Any]) -> str:
    for payment in (invoice.get("payments") or {}).get("data") or []:
        intent = (payment.get("payment") or {}).get("payment_intent")
        if intent:
            return str(intent)
    return str(invoice.get("payment_intent") or "")


def _on_invoice_paid(invoice: dict[str, Any]) -> str:
    subscription_id, metadata = _invoice_subscription(invoice)
    if not subscription_id:
        return "ignored: not a subscription invoice"
    licence = _subscription_licence(subscription_id, metadata)
    if licence is None:
        return f"ignored: subscription {subscription_id} is not ours"
    paid = int(invoice.get("amount_paid") or 0)
    if paid:
        taxes = invoice.get("total_taxes")
        tax = (
            sum(int(t.get("amount") or 0) for t in taxes)
            if taxes is not None
            else int(invoice.get("tax") or 0)
        )
        payment_intent = _invoice_payment_intent(invoice)
        _record_payment(
            licence=licence,
            object_id=str(invoice["id"]),
            payment_intent=payment_intent,
            gross=paid,
            tax=tax,
            currency=str(invoice.get("currency") or licence.currency),
            occurred_at=_ts(invoice.get("created")) or timezone.now(),
            reason=str(invoice.get("billing_reason") or "subscription"),
        )
        if payment_intent:
            licence.stripe_payment_intent_id = payment_intent
            licence.save(update_fields=["stripe_payment_intent_id"])
    _apply_subscription(licence, gateway.retrieve_subscription(subscription_id))
    return f"invoice {invoice['id']} applied to licence {licence.pk}"


def _on_invoice_failed(invoice: dict[str, Any]) -> str:
    """A subscription payment failed: the licence follows the subscription (past due), the
    failure is audited and the customer is asked to update their card, once per attempt."""
    subscription_id, metadata = _invoice_subscription(invoice)
    licence = _subscription_licence(subscription_id, metadata) if subscription_id else None
    if licence is None:
        return "ignored: no licence"
    _apply_subscription(licence, gateway.retrieve_subscription(subscription_id))
    notice = f"{invoice.get('id')}:{int(invoice.get('attempt_count') or 1)}"
    if _first_notice(EventType.PAYMENT_FAILED, licence, notice):
        data = {
            "notice": notice,
            "invoice": str(invoice.get("id", "")),
            "amount_due": int(invoice.get("amount_due") or 0),
            "currency": str(invoice.get("currency") or licence.currency).upper(),
            "attempt": int(invoice.get("attempt_count") or 1),
            "next_attempt": invoice.get("next_payment_attempt"),
        }
        record(
            event_type=EventType.PAYMENT_FAILED,
            publisher=licence.product.publisher,
            target=licence,
            data=data,
        )
        _notify(
            "payment_failed",
            licence,
            amount_due=data["amount_due"],
            currency=data["currency"],
            next_attempt=data["next_attempt"],
            invoice_url=str(invoice.get("hosted_invoice_url") or ""),
        )
    return f"licence {licence.pk} is {licence.status}"


def _on_trial_will_end(subscription: dict[str, Any]) -> str:
    """Stripe's notice, three days ahead, that a trial ends: tell the customer once per trial
    (what they will pay, or that access ends if they cancelled)."""
    licence = _subscription_licence(str(subscription["id"]), dict(subscription.get("metadata") or {}))
    if licence is None:
        return f"ignored: subscription {subscription['id']} is not ours"
    current = gateway.retrieve_subscription(str(subscription["id"]))
    _apply_subscription(licence, current)
    if current.get("status") != "trialing" or licence.status != LicenceStatus.TRIALING:
        return f"licence {licence.pk}: the trial is already over ({current.get('status')})"
    trial_end = int(current.get("trial_end") or 0) or None
    notice = f"{current['id']}:{trial_end}"
    if _first_notice(EventType.LICENCE_TRIAL_ENDING, licence, notice):
        record(
            event_type=EventType.LICENCE_TRIAL_ENDING,
            publisher=licence.product.publisher,
            target=licence,
            data={
                "notice": notice,
                "trial_end": trial_end,
                "cancel_at_period_end": licence.cancel_at_period_end,
            },
        )
        _notify("trial_ending", licence, trial_end=trial_end)
    return f"licence {licence.pk}: trial ends {trial_end}"


def _on_subscription_changed(subscription: dict[str, Any]) -> str:
    licence = _subscription_licence(str(subscription["id"]), dict(subscription.get("metadata") or {}))
    if licence is None:
        return f"ignored: subscription {subscription['id']} is not ours"
    _apply_subscription(licence, gateway.retrieve_subscription(str(subscription["id"])))
    return f"licence {licence.pk} is {licence.status}"


def _on_charge_refunded(charge: dict[str, Any]) -> str:
    payment_intent = str(charge.get("payment_intent") or "")
    payment = (
        LedgerEntry.objects.select_related("licence", "publisher", "product")
        .filter(kind=LedgerKind.PAYMENT, payment_intent_id=payment_intent)
        .first()
        if payment_intent
        else None
    )
    if payment is None:
        raise NotReady(f"payment {payment_intent or charge.get('id')} is not in the ledger yet")
    recorded = 0
    for refund in gateway.list_refunds(charge=str(charge["id"])):
        if refund.get("status") not in ("succeeded", "pending"):
            continue
        try:
            with transaction.atomic():
                LedgerEntry.objects.create(
                    kind=LedgerKind.REFUND,
                    stripe_object_id=str(refund["id"]),
                    payment_intent_id=payment_intent,
                    publisher=payment.publisher,
                    product=payment.product,
                    tier_key=payment.tier_key,
                    tier_name=payment.tier_name,
                    customer_id=payment.customer_id,
                    licence=payment.licence,
                    currency=payment.currency,
                    amount=int(refund.get("amount") or 0),
                    occurred_at=_ts(refund.get("created")) or timezone.now(),
                )
        except IntegrityError:
            continue
        recorded += 1
        record(
            event_type=EventType.REFUND_RECORDED,
            publisher=payment.publisher,
            target=payment,
            data={
                "refund": refund["id"],
                "amount": refund.get("amount"),
                "currency": payment.currency,
                "payment_intent": payment_intent,
            },
        )
        if payment.licence is not None:
            _notify("refund", payment.licence, refund_id=str(refund["id"]))
    fully = int(charge.get("amount_refunded") or 0) >= int(charge.get("amount") or 0)
    if payment.licence_id and fully:
        licence = (
            Licence.objects.select_for_update()
            .select_related("product__publisher")
            .get(pk=payment.licence_id)
        )
        # Only the licence's latest payment decides; refunding an old renewal changes nothing.
        if licence.stripe_payment_intent_id in ("", payment_intent):
            _set_status(licence, LicenceStatus.REFUNDED, reason=f"payment {payment_intent} refunded")
    return f"{recorded} refund(s) recorded for {payment_intent}"


def _on_dispute(dispute: dict[str, Any]) -> str:
    payment_intent = str(dispute.get("payment_intent") or "")
    payment = LedgerEntry.objects.filter(kind=LedgerKind.PAYMENT, payment_intent_id=payment_intent).first()
    if payment is None:
        raise NotReady(f"payment {payment_intent} is not in the ledger yet")
    record(
        event_type=EventType.DISPUTE_OPENED,
        publisher=payment.publisher,
        target=payment,
        data={
            "dispute": dispute.get("id"),
            "amount": dispute.get("amount"),
            "currency": str(dispute.get("currency", "")).upper(),
            "reason": dispute.get("reason", ""),
        },
    )
    return f"dispute {dispute.get('id')} recorded"


def _on_account_updated(account: dict[str, Any]) -> str:
    payout = (
        PayoutAccount.objects.select_for_update()
        .select_related("publisher")
        .filter(stripe_account_id=account["id"])
        .first()
    )
    if payout is None:
        return f"ignored: account {account['id']} is not ours"
    # Fetch the current state: account.updated events may arrive in any order.
    _apply_account(payout, gateway.retrieve_account(str(account["id"])))
    return f"{payout.publisher.namespace}: payouts {'enabled' if payout.payouts_enabled else 'disabled'}"


HANDLERS: dict[str, Any] = {
    "checkout.session.completed": _on_checkout_completed,
    "checkout.session.async_payment_succeeded": _on_checkout_completed,
    "checkout.session.async_payment_failed": _on_async_payment_failed,
    "invoice.paid": _on_invoice_paid,
    "invoice.payment_failed": _on_invoice_failed,
    "customer.subscription.created": _on_subscription_changed,
    "customer.subscription.updated": _on_subscription_changed,
    "customer.subscription.deleted": _on_subscription_changed,
    "customer.subscription.trial_will_end": _on_trial_will_end,
    "charge.refunded": _on_charge_refunded,
    "charge.dispute.created": _on_dispute,
    "account.updated": _on_account_updated,
}


def tier_for_licence(licence: Licence) -> Tier | None:
    """The live copy of the licensed tier (for its repository and tag), if still offered."""
    return current_tier(licence.product, licence.tier_key)

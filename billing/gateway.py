"""The store's only door to Stripe: the one module that imports ``stripe``.

Every function takes and returns plain Python values (dicts as Stripe's JSON has them), so the
services never see a ``StripeObject`` and the tests can point the real client at a fake server
through ``STRIPE_API_BASE``. Settings are read at call time, never at import.
"""

from __future__ import annotations

import json
from typing import Any, cast

import stripe
from django.conf import settings

DEFAULT_API_VERSION = "2026-10-28.endive"


class GatewayError(Exception):
    """Stripe refused or did not answer. ``message`` is fit to show to a person."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable


class NotConfigured(GatewayError):
    def __init__(self) -> None:
        super().__init__("Payment is not configured on this store: paid tiers cannot be bought yet.")


class InvalidWebhook(Exception):
    """The body or its signature is not a genuine Stripe event."""


def is_configured() -> bool:
    return bool(getattr(settings, "STRIPE_SECRET_KEY", ""))


def _client() -> stripe.StripeClient:
    key = getattr(settings, "STRIPE_SECRET_KEY", "")
    if not key:
        raise NotConfigured()
    base = getattr(settings, "STRIPE_API_BASE", "") or stripe.DEFAULT_API_BASE
    return stripe.StripeClient(
        key,
        stripe_version=getattr(settings, "STRIPE_API_VERSION", DEFAULT_API_VERSION),
        base_addresses={"api": base},
        max_network_retries=getattr(settings, "STRIPE_MAX_NETWORK_RETRIES", 2),
        http_client=stripe.RequestsClient(timeout=getattr(settings, "STRIPE_TIMEOUT_SECONDS", 20)),
    )


def _plain(obj: Any) -> dict[str, Any]:
    return cast(dict[str, Any], obj.to_dict())


def _call(fn: Any, *args: Any, params: dict[str, Any] | None = None, key: str | None = None) -> Any:
    options: dict[str, Any] = {}
    if key:
        options["idempotency_key"] = key
    try:
        if params is None:
            return fn(*args, options=options)
        return fn(*args, params=params, options=options)
    except stripe.APIConnectionError as exc:
        raise GatewayError(
            "Stripe did not answer in time; nothing was charged. Try again in a minute.", retryable=True
        ) from exc
    except stripe.RateLimitError as exc:
        raise GatewayError("Stripe is busy; try again in a minute.", retryable=True) from exc
    except stripe.APIError as exc:
        raise GatewayError(
            "Stripe had a problem on its side; nothing was charged. Try again in a minute.", retryable=True
        ) from exc
    except stripe.StripeError as exc:
        detail = exc.user_message or str(exc) or "the request was refused"
        raise GatewayError(f"Stripe refused the request: {detail}") from exc


# ---------------------------------------------------------------------------------------------
# Catalog


def create_product(*, name: str, metadata: dict[str, str], idempotency_key: str) -> dict[str, Any]:
    client = _client()
    params = {"name": name, "metadata": metadata}
    return _plain(_call(client.v1.products.create, params=params, key=idempotency_key))


def update_product(product_id: str, *, name: str, idempotency_key: str) -> dict[str, Any]:
    client = _client()
    return _plain(_call(client.v1.products.update, product_id, params={"name": name}, key=idempotency_key))


def create_price(
    *,
    product_id: str,
    unit_amount: int,
    currency: str,
    interval: str,
    metadata: dict[str, str],
    idempotency_key: str,
) -> dict[str, Any]:
    """A Price; ``interval`` is "" for one-off, "month" or "year" for subscriptions."""
    params: dict[str, Any] = {
        "product": product_id,
        "unit_amount": unit_amount,
        "currency": currency.lower(),
        "tax_behavior": "exclusive",
        "metadata": metadata,
    }
    if interval:
        params["recurring"] = {"interval": interval}
    return _plain(_call(_client().v1.prices.create, params=params, key=idempotency_key))


# ---------------------------------------------------------------------------------------------
# Checkout, subscriptions, refunds, portal


def create_checkout_session(params: dict[str, Any], *, idempotency_key: str) -> dict[str, Any]:
    return _plain(_call(_client().v1.checkout.sessions.create, params=params, key=idempotency_key))


def retrieve_checkout_session(session_id: str) -> dict[str, Any]:
    return _plain(_call(_client().v1.checkout.sessions.retrieve, session_id))


def retrieve_subscription(subscription_id: str) -> dict[str, Any]:
    return _plain(_call(_client().v1.subscriptions.retrieve, subscription_id))


def cancel_subscription_at_period_end(subscription_id: str, *, idempotency_key: str) -> dict[str, Any]:
    client = _client()
    params = {"cancel_at_period_end": True}
    return _plain(_call(client.v1.subscriptions.update, subscription_id, params=params, key=idempotency_key))


def cancel_subscription_now(subscription_id: str, *, idempotency_key: str) -> dict[str, Any]:
    client = _client()
    return _plain(_call(client.v1.subscriptions.cancel, subscription_id, params={}, key=idempotency_key))


def create_refund(
    *, payment_intent: str, amount: int | None, metadata: dict[str, str], idempotency_key: str
) -> dict[str, Any]:
    """Refund through a destination charge: the transfer and the store's fee are reversed too,
    otherwise the store's own balance would pay the whole refund."""
    params: dict[str, Any] = {
        "payment_intent": payment_intent,
        "reverse_transfer": True,
        "refund_application_fee": True,
        "metadata": metadata,
    }
    if amount is not None:
        params["amount"] = amount
    return _plain(_call(_client().v1.refunds.create, params=params, key=idempotency_key))


def list_refunds(*, charge: str) -> list[dict[str, Any]]:
    result = _call(_client().v1.refunds.list, params={"charge": charge, "limit": 100})
    return [_plain(item) for item in result.data]


def create_billing_portal_session(*, customer: str, return_url: str) -> str:
    client = _client()
    params = {"customer": customer, "return_url": return_url}
    return cast(str, _call(client.v1.billing_portal.sessions.create, params=params).url)


# ---------------------------------------------------------------------------------------------
# Connect


def create_express_account(*, email: str, metadata: dict[str, str], idempotency_key: str) -> dict[str, Any]:
    params = {
        "type": "express",
        "email": email,
        "metadata": metadata,
        "capabilities": {"card_payments": {"requested": True}, "transfers": {"requested": True}},
    }
    return _plain(_call(_client().v1.accounts.create, params=params, key=idempotency_key))


def retrieve_account(account_id: str) -> dict[str, Any]:
    return _plain(_call(_client().v1.accounts.retrieve, account_id))


def create_account_link(*, account: str, refresh_url: str, return_url: str) -> str:
    params = {
        "account": account,
        "refresh_url": refresh_url,
        "return_url": return_url,
        "type": "account_onboarding",
    }
    return cast(str, _call(_client().v1.account_links.create, params=params).url)


# ---------------------------------------------------------------------------------------------
# Events


def list_events(*, created_after: int, limit: int = 100) -> list[dict[str, Any]]:
    """Events created after the unix time ``created_after``, following every page."""
    client = _client()
    params: dict[str, Any] = {"created": {"gt": created_after}, "limit": limit}
    events: list[dict[str, Any]] = []
    while True:
        page = _call(client.v1.events.list, params=params)
        events.extend(_plain(item) for item in page.data)
        if not page.has_more or not page.data:
            return events
        params = {**params, "starting_after": page.data[-1].id}


def verify_webhook(payload: bytes, signature_header: str) -> dict[str, Any]:
    """The event in ``payload`` when its ``Stripe-Signature`` is genuine and recent (300 s)."""
    secret = getattr(settings, "STRIPE_WEBHOOK_SECRET", "")
    if not secret:
        raise InvalidWebhook("The webhook secret is not configured.")
    try:
        stripe.Webhook.construct_event(payload, signature_header, secret)
    except (ValueError, stripe.SignatureVerificationError) as exc:
        raise InvalidWebhook(str(exc) or "bad signature") from exc
    try:
        event = json.loads(payload)
    except ValueError as exc:  # construct_event parsed it already; kept for clarity of types
        raise InvalidWebhook("malformed JSON") from exc
    if not isinstance(event, dict) or not event.get("id") or not event.get("type"):
        raise InvalidWebhook("not a Stripe event")
    return cast(dict[str, Any], event)

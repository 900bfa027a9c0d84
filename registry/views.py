"""The registry's token service and its notification sink.

``/registry/token`` answers the registry's Bearer challenge (docker login, pull, push): Basic auth
with the account's email and a personal access token with the ``registry`` scope, or anonymous.
``/registry/events`` receives the registry's notifications (shared secret in Authorization).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST
from rest_framework.exceptions import AuthenticationFailed

from accounts.authentication import authenticate_token, token_cache_key
from accounts.models import Scope, hash_token
from accounts.throttling import client_address
from registry import rules, services, tokens
from registry.client import service_account
from registry.throttling import token_request_retry_after_and_get

logger = logging.getLogger(__name__)


class BadCredentials(Exception):
    pass


def _errors(status: int, code: str, message: str, **headers: str) -> JsonResponse:
    """The registry's own error shape, which docker and skopeo print as ``code: message``."""
    response = JsonResponse({"errors": [{"code": code, "message": message}]}, status=status)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def _credentials(request: HttpRequest) -> tuple[str, str] | None:
    """The Basic credentials (email or service name, password), None when anonymous."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if not header:
        return None
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        raise BadCredentials("Log in with your email and a personal access token (HTTP Basic).")
    try:
        username, sep, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise BadCredentials("The Basic credentials are not valid base64 of email:token.") from None
    if not sep or not username or not password:
        raise BadCredentials("Give both your email and a personal access token.")
    return username, password


def _identify(credentials: tuple[str, str] | None, cache_hit: Any) -> rules.Identity:
    """Who ``credentials`` are; ``cache_hit`` is the cached lookup of the access token, read with
    the throttle's count (``_token_cache_key``)."""
    if credentials is None:
        return rules.Identity()
    username, password = credentials
    service_secret = str(getattr(settings, "REGISTRY_SERVICE_PASSWORD", ""))
    if username == service_account():
        if service_secret and hmac.compare_digest(password.encode(), service_secret.encode()):
            return rules.Identity(is_service=True, service_name=username)
        raise BadCredentials("Invalid credentials for the store's service identity.")
    try:
        token = authenticate_token(password, cached=True, cache_hit=cache_hit)
    except AuthenticationFailed as exc:
        raise BadCredentials(
            f"{exc.detail} Create one with the “registry” scope on your account page."
        ) from None
    if token.user.email != username.strip().lower():
        raise BadCredentials("This access token belongs to another account; log in with its owner's email.")
    if not token.has_scope(Scope.REGISTRY):
        raise BadCredentials(
            "This access token lacks the “registry” scope; create one with it on your account page."
        )
    return rules.Identity(user=token.user)


def _token_cache_key(credentials: tuple[str, str] | None) -> str | None:
    """The cache key of the access token's lookup, when the credentials hold an access token."""
    if credentials is None or credentials[0] == service_account():
        return None
    return token_cache_key(hash_token(credentials[1]))


@never_cache
@require_GET
def token(request: HttpRequest) -> JsonResponse:
    # The credentials are parsed (no I/O) before the throttle so that the throttle's Redis round
    # trip also reads the cached access-token lookup; a malformed header still counts and is
    # answered after the throttle, as before.
    credentials: tuple[str, str] | None = None
    bad: BadCredentials | None = None
    try:
        credentials = _credentials(request)
    except BadCredentials as exc:
        bad = exc
    retry_after, cache_hit = token_request_retry_after_and_get(
        client_address(request), _token_cache_key(credentials)
    )
    if retry_after is not None:
        return _errors(
            429,
            "TOOMANYREQUESTS",
            f"Too many token requests from your address; try again in {retry_after} s.",
            Retry_After=str(retry_after),
        )
    asked_service = request.GET.get("service", "")
    if asked_service and asked_service != tokens.service():
        return _errors(
            400, "SERVICE_UNKNOWN", f"This token service issues tokens for “{tokens.service()}” only."
        )
    try:
        requested = rules.parse_scopes(request.GET.getlist("scope"))
    except rules.ScopeError as exc:
        return _errors(400, "SCOPE_INVALID", str(exc))
    try:
        if bad is not None:
            raise bad
        identity = _identify(credentials, cache_hit)
    except BadCredentials as exc:
        return _errors(
            401, "UNAUTHORIZED", str(exc), WWW_Authenticate=f'Basic realm="{settings.SITE_NAME} registry"'
        )
    try:
        issued = tokens.issue(subject=identity.subject, access=rules.grant(identity, requested))
    except ImproperlyConfigured as exc:
        logger.error("registry token not issued: %s", exc)
        return _errors(503, "UNAVAILABLE", "The token service is not configured yet; try again later.")
    return JsonResponse(issued.response())


def _events_authorized(request: HttpRequest) -> bool:
    secret = str(getattr(settings, "REGISTRY_EVENTS_SECRET", ""))
    if not secret:
        logger.error("REGISTRY_EVENTS_SECRET is not set: registry notifications are refused")
        return False
    given = request.META.get("HTTP_AUTHORIZATION", "")
    return hmac.compare_digest(given.encode(), f"Bearer {secret}".encode())


@csrf_exempt
@require_POST
def events(request: HttpRequest) -> JsonResponse:
    if not _events_authorized(request):
        return JsonResponse(
            {"error": "Send the shared secret as “Authorization: Bearer <REGISTRY_EVENTS_SECRET>”."},
            status=401,
        )
    try:
        notices = services.parse_events(request.body)
    except services.EventsError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    result = services.events_ingest(notices=notices)
    return JsonResponse(
        {"received": result.received, "new": result.new, "downloads": result.downloads, "scans": result.scans}
    )

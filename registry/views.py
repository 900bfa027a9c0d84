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

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST
from rest_framework.exceptions import AuthenticationFailed

from accounts.authentication import authenticate_token
from accounts.models import Scope
from accounts.throttling import client_address
from registry import rules, services, tokens
from registry.client import service_account
from registry.throttling import token_request_retry_after

logger = logging.getLogger(__name__)


class BadCredentials(Exception):
    pass


def _errors(status: int, code: str, message: str, **headers: str) -> JsonResponse:
    """The registry's own error shape, which docker and skopeo print as ``code: message``."""
    response = JsonResponse({"errors": [{"code": code, "message": message}]}, status=status)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def _identify(request: HttpRequest) -> rules.Identity:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if not header:
        return rules.Identity()
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        raise BadCredentials("Log in with your email and a personal access token (HTTP Basic).")
    try:
        username, sep, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise BadCredentials("The Basic credentials are not valid base64 of email:token.") from None
    if not sep or not username or not password:
        raise BadCredentials("Give both your email and a personal access token.")
    service_secret = str(getattr(settings, "REGISTRY_SERVICE_PASSWORD", ""))
    if username == service_account():
        if service_secret and hmac.compare_digest(password.encode(), service_secret.encode()):
            return rules.Identity(is_service=True, service_name=username)
        raise BadCredentials("Invalid credentials for the store's service identity.")
    try:
        token = authenticate_token(password, cached=True)
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


@never_cache
@require_GET
def token(request: HttpRequest) -> JsonResponse:
    retry_after = token_request_retry_after(client_address(request))
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
        identity = _identify(request)
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

"""API conventions shared by every app: pagination and one error format."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, JsonResponse
from django.views.defaults import page_not_found
from django.views.defaults import server_error as django_server_error
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, pagination, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


class Pagination(pagination.PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 100

    def get_page_size(self, request: Any) -> int | None:
        """A page_size that is not a whole number of at least 1 is refused, not silently replaced
        by the default (more than ``max_page_size`` still means ``max_page_size``)."""
        raw = request.query_params.get(self.page_size_query_param)
        if raw is not None:
            try:
                valid = int(raw) >= 1
            except ValueError:
                valid = False
            if not valid:
                message = f"A whole number from 1 to {self.max_page_size}."
                raise exceptions.ValidationError({self.page_size_query_param: [message]})
        return super().get_page_size(request)


def _flatten(detail: Any) -> Any:
    if isinstance(detail, dict):
        return {key: _flatten(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_flatten(item) for item in detail]
    return str(detail)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Every error answers ``{"error": {"code", "message", "fields"?}}``.

    ``fields`` maps field names to lists of messages on 400; ``non_field_errors`` holds the rest.
    """
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        fields = _flatten(detail)
        first = next(iter(fields.values()), ["Invalid input."])
        message = first[0] if isinstance(first, list) and first else str(first)
        body: dict[str, Any] = {"code": "invalid", "message": message, "fields": fields}
        response.status_code = status.HTTP_400_BAD_REQUEST
    else:
        assert isinstance(exc, exceptions.APIException)
        codes = exc.get_codes()
        body = {"code": codes if isinstance(codes, str) else "error", "message": str(exc.detail)}
    response.data = {"error": body}
    return response


# --- the error format, described for the OpenAPI schema -----------------------------------------


class ErrorBodySerializer(serializers.Serializer[Any]):
    code = serializers.CharField(help_text="Machine-readable: invalid, not_found, permission_denied…")
    message = serializers.CharField(help_text="The first problem, in words a person can act on.")


# "fields" cannot be a class attribute (it would hide Serializer.fields); this serializer only
# describes the schema, so the field is added to the declared ones directly.
ErrorBodySerializer._declared_fields["fields"] = serializers.DictField(
    child=serializers.ListField(child=serializers.CharField()),
    required=False,
    help_text="On 400: field name to its messages; non_field_errors holds the rest.",
)


class ErrorResponseSerializer(serializers.Serializer[Any]):
    error = ErrorBodySerializer()


def error_responses(descriptions: dict[int, str]) -> dict[int, OpenApiResponse]:
    """``extend_schema(responses=...)`` entries for error statuses, all in the one error format."""
    return {
        code: OpenApiResponse(ErrorResponseSerializer, description=text)
        for code, text in descriptions.items()
    }


def not_found(request: HttpRequest, exception: Exception | None = None) -> Any:
    """``handler404``: a URL under /api/ that matches no route answers in the API's error format."""
    if request.path.startswith("/api/"):
        body = {"error": {"code": "not_found", "message": "No such API endpoint."}}
        return JsonResponse(body, status=status.HTTP_404_NOT_FOUND)
    return page_not_found(request, exception)


def server_error(request: HttpRequest) -> Any:
    """``handler500``: an unexpected error under /api/ still answers in the API's error format."""
    if request.path.startswith("/api/"):
        body = {"error": {"code": "server_error", "message": "Something went wrong on our side."}}
        return JsonResponse(body, status=status.HTTP_500_INTERNAL_SERVER_ERROR)
    return django_server_error(request)

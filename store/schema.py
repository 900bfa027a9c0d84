"""The OpenAPI schema class of every API view (``DEFAULT_SCHEMA_CLASS``).

A module of its own: ``store.api`` is imported while DRF's generics load (the pagination class),
and drf-spectacular's ``openapi`` imports those generics.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import permissions

from store.api import ErrorResponseSerializer


class AutoSchema(SpectacularAutoSchema):
    """The schema of every operation also lists the errors it can answer, in the one error format.

    Explicit ``extend_schema(responses=...)`` entries win; the rest is derived from the view:
    400 for a request body or query parameters, 401 always (a bad token is refused even where no
    login is needed), 403 unless anyone may call it, 404 for path parameters and paged lists (a page
    past the end), 429 when the view is throttled.
    """

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses: dict[str, Any] = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        for code, text in self._error_statuses().items():
            if str(code) not in responses:
                responses[str(code)] = self._get_response_for_code(
                    OpenApiResponse(ErrorResponseSerializer, description=text), str(code)
                )
        return responses

    def _error_statuses(self) -> dict[int, str]:
        parameters = self._get_parameters()
        statuses: dict[int, str] = {}
        if self.method in ("POST", "PUT", "PATCH") or any(p.get("in") == "query" for p in parameters):
            statuses[400] = "Invalid input: the fields say what to change."
        statuses[401] = "Not authenticated, or the access token is invalid, expired or revoked."
        anyone = all(isinstance(p, permissions.AllowAny) for p in self.view.get_permissions())
        if not anyone:
            statuses[403] = "Not allowed: a missing role or token scope."
        if any(p.get("in") == "path" for p in parameters) or self._is_list_view():
            statuses[404] = "Not found (or not visible to you), or a page past the end."
        if self.view.get_throttles():
            statuses[429] = "Too many requests: retry after the Retry-After header's seconds."
        return statuses

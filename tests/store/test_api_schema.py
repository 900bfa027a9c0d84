"""The API's published contract: an OpenAPI 3 schema, self-hosted docs, and one error format."""

from __future__ import annotations

import json
import re

import pytest
from django.contrib.staticfiles import finders
from django.test import Client
from django.urls import include, path
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIClient
from rest_framework.views import APIView

from publishers.models import Role
from publishers.selectors import get_publisher_for_member
from tests.conftest import Personas

pytestmark = pytest.mark.django_db


class _PublisherProbe(APIView):
    """A minimal API view built the way the apps build theirs: scoped lookup, default permissions."""

    def get(self, request: Request, namespace: str) -> Response:
        publisher = get_publisher_for_member(request.user, namespace)
        return Response({"namespace": publisher.namespace})

    def post(self, request: Request, namespace: str) -> Response:
        publisher = get_publisher_for_member(request.user, namespace, min_role=Role.EDITOR)
        return Response({"namespace": publisher.namespace})


# The project's URLs plus the probe, for the error-format tests (`pytest.mark.urls(__name__)`).
urlpatterns = [
    path("api/v1/probe/<slug:namespace>/", _PublisherProbe.as_view()),
    path("", include("store.urls")),
]


def test_schema_is_an_openapi_3_document(client: Client) -> None:
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"].endswith("API")


def test_schema_documents_bearer_tokens_on_every_operation(client: Client) -> None:
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    bearer = {
        name
        for name, scheme in schema["components"]["securitySchemes"].items()
        if scheme["type"] == "http" and scheme["scheme"] == "bearer"
    }
    assert len(bearer) == 1
    authenticated = [
        (f"{method.upper()} {url}", operation)
        for url, item in schema["paths"].items()
        for method, operation in item.items()
        if method in {"get", "put", "patch", "post", "delete"} and operation.get("security")
    ]
    assert authenticated, "the API has operations that need a login"
    for name, operation in authenticated:
        offered = {scheme for requirement in operation["security"] for scheme in requirement}
        assert bearer <= offered, f"{name} does not accept Bearer tokens"


def test_schema_paths_are_all_under_api_v1(client: Client) -> None:
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    assert all(p.startswith("/api/v1/") for p in schema["paths"]), list(schema["paths"])


def test_schema_is_public_yaml_by_default(client: Client) -> None:
    response = client.get("/api/schema/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi")
    assert response.content.startswith(b"openapi: 3.")


def test_docs_page_uses_only_local_assets(client: Client) -> None:
    """Swagger UI comes from the sidecar package, so the docs work offline and leak nothing to a CDN."""
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert '"/api/schema/"' in html
    for cdn in ("cdn.", "jsdelivr", "unpkg", "cdnjs", "googleapis"):
        assert cdn not in html
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets, "the page loads Swagger UI's script and styles"
    for asset in assets:
        assert asset.startswith("/static/drf_spectacular_sidecar/"), asset
        assert finders.find(asset.removeprefix("/static/")), f"{asset} is not shipped with the project"


@pytest.mark.urls(__name__)
def test_401_without_credentials_names_the_bearer_scheme(api_client: APIClient) -> None:
    response = api_client.get("/api/v1/probe/acme/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert response.json() == {
        "error": {"code": "not_authenticated", "message": "Authentication credentials were not provided."}
    }


def test_401_for_an_unknown_token_says_why(api_client: APIClient) -> None:
    response = api_client.get(
        "/api/schema/", HTTP_ACCEPT="application/json", HTTP_AUTHORIZATION="Bearer dst_not-a-real-token"
    )
    assert response.status_code == 401
    assert response.json() == {"error": {"code": "token_unknown", "message": "Unknown access token."}}


@pytest.mark.urls(__name__)
def test_404_for_another_tenants_publisher(api_client: APIClient, personas: Personas) -> None:
    """An outsider cannot tell a foreign publisher from one that does not exist."""
    api_client.force_login(personas.outsider)
    foreign = api_client.get("/api/v1/probe/acme/")
    missing = api_client.get("/api/v1/probe/no-such-publisher/")
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json() == missing.json() == {"error": {"code": "not_found", "message": "Not found."}}

    api_client.force_login(personas.owner)
    assert api_client.get("/api/v1/probe/acme/").json() == {"namespace": "acme"}


@pytest.mark.urls(__name__)
def test_403_for_a_member_below_the_needed_role(api_client: APIClient, personas: Personas) -> None:
    api_client.force_login(personas.viewer)
    response = api_client.post("/api/v1/probe/acme/", data={}, format="json")
    assert response.status_code == 403
    body = json.loads(response.content)
    assert body == {
        "error": {
            "code": "permission_denied",
            "message": "You do not have permission to perform this action.",
        }
    }


def test_schema_documents_the_errors_each_operation_can_answer(client: Client) -> None:
    """Fuzzing found 400/403/404 answers the schema did not list: every operation now lists them."""
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    error_ref = "#/components/schemas/ErrorResponse"
    for url, item in schema["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            name = f"{method.upper()} {url}"
            assert "401" in responses, name
            if "{" in url:
                assert "404" in responses, name
            if method in {"post", "patch", "put"}:
                assert "400" in responses, name
            for code, response in responses.items():
                if code.startswith("4"):
                    ref = response["content"]["application/json"]["schema"]["$ref"]
                    assert ref == error_ref, name
    catalog = schema["paths"]["/api/v1/products/"]["get"]["responses"]
    assert "403" not in catalog, "anyone may read the catalog"
    assert {"400", "404"} <= set(catalog), "bad filters and a page past the end"


@pytest.mark.parametrize("debug", [False, True])
def test_unrouted_api_url_answers_in_the_error_format(client: Client, settings, debug: bool) -> None:
    """A path under /api/ that no route matches (e.g. a non-numeric id) is a JSON 404, not HTML."""
    settings.DEBUG = debug
    response = client.patch("/api/v1/publishers/nimbusdb/members/null%2Cnull/", "{}", "application/json")
    assert response.status_code == 404
    if not debug:  # with DEBUG on, Django's technical 404 page wins; production is what counts
        assert response["Content-Type"] == "application/json"
        assert response.json() == {"error": {"code": "not_found", "message": "No such API endpoint."}}


def test_pages_outside_the_api_keep_the_html_404(client: Client) -> None:
    response = client.get("/no-such-page-anywhere/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("page_size", ["null", "0", "-3", "2.5", "ten"])
def test_a_bad_page_size_is_refused_not_replaced(page_size: str) -> None:
    """Fuzzing found page_size=null answered 200 with the default page size."""
    response = APIClient().get("/api/v1/products/", {"page_size": page_size})
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"page_size": ["A whole number from 1 to 100."]}


def test_a_large_page_size_still_means_the_largest_page() -> None:
    response = APIClient().get("/api/v1/products/", {"page_size": "1000"})
    assert response.status_code == 200

"""The publishers API: scoped to members, one error format, constant queries on lists."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import User
from audit.models import AuditEvent, EventType
from publishers import services
from publishers.models import Invitation, Membership, Publisher, Role
from tests.factories import MembershipFactory, PublisherFactory, UserFactory
from tests.images import upload
from tests.publishers.conftest import BAD_LOGOS

pytestmark = pytest.mark.django_db


@pytest.fixture
def api() -> Any:
    def make(user: User | None) -> APIClient:
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        return client

    return make


def error_fields(response) -> dict[str, list[str]]:
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == "invalid"
    return body["error"]["fields"]


# --- publishers ----------------------------------------------------------------------------------


def test_list_shows_only_my_publishers_with_my_role(personas, api):
    response = api(personas.member).get("/api/v1/publishers/")
    assert response.status_code == 200
    [acme] = response.json()["results"]
    assert (acme["namespace"], acme["role"]) == ("acme", "editor")
    assert acme["logo"].startswith("http://testserver/media/publishers/")


def test_publisher_list_queries_are_constant(personas, api):
    client = api(personas.outsider)
    with CaptureQueriesContext(connection) as one:
        assert len(client.get("/api/v1/publishers/").json()["results"]) == 1
    for _ in range(9):
        MembershipFactory(publisher=PublisherFactory(), user=personas.outsider, role=Role.EDITOR)
    with CaptureQueriesContext(connection) as ten:
        assert len(client.get("/api/v1/publishers/").json()["results"]) == 10
    assert len(ten) == len(one)


def test_create_by_multipart_makes_me_owner(personas, api, profile_data):
    response = api(personas.viewer).post("/api/v1/publishers/", profile_data(), format="multipart")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["namespace"], body["role"], body["phone"]) == ("initech", "owner", "+14155550132")
    publisher = Publisher.objects.get(namespace="initech")
    assert publisher.memberships.get(user=personas.viewer).role == Role.OWNER
    assert AuditEvent.objects.filter(publisher=publisher, event_type=EventType.PUBLISHER_CREATED).count() == 1


@pytest.mark.parametrize("case", list(BAD_LOGOS))
def test_create_refuses_bad_logos_with_the_specific_reason(personas, api, profile_data, case):
    make, message = BAD_LOGOS[case]
    response = api(personas.viewer).post("/api/v1/publishers/", profile_data(logo=make()), format="multipart")
    assert response.status_code == 400
    [error] = error_fields(response)["logo"]
    assert message in error
    assert message in response.json()["error"]["message"]
    assert not Publisher.objects.filter(namespace="initech").exists()


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"namespace": "acme"}, "namespace", "The namespace “acme” is already taken; choose another."),
        ({"namespace": "registry"}, "namespace", "“registry” is reserved by the store."),
        ({"phone": "12345"}, "phone", "international format"),
        ({"website": "not a url"}, "website", "Enter a valid URL."),
        (
            {"self_help_links": "https://ok.example.com\nftp://x"},
            "self_help_links",
            "Line 2 is not a web address",
        ),
    ],
    ids=["taken", "reserved", "phone", "url", "self-help"],
)
def test_create_bad_input_answers_400_with_field_errors(
    personas, api, profile_data, overrides, field, message
):
    response = api(personas.viewer).post("/api/v1/publishers/", profile_data(**overrides), format="multipart")
    assert response.status_code == 400
    assert any(message in error for error in error_fields(response)[field]), response.json()
    assert Publisher.objects.count() == 2


def test_anonymous_requests_are_refused(personas, api):
    response = api(None).get("/api/v1/publishers/")
    assert response.status_code in (401, 403)
    assert set(response.json()) == {"error"}


def test_patch_changes_the_profile_and_records_it(personas, api):
    response = api(personas.owner).patch(
        "/api/v1/publishers/acme/", {"legal_name": "Acme Holdings", "support_hours": "24x7"}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert response.json()["legal_name"] == "Acme Holdings"
    assert response.json()["role"] == "owner"
    event = AuditEvent.objects.get(event_type=EventType.PUBLISHER_PROFILE_CHANGED)
    assert event.data == {"fields": ["legal_name", "support_hours"]}


def test_patch_uploads_a_logo(personas, api):
    before = personas.acme.logo.name
    response = api(personas.owner).patch(
        "/api/v1/publishers/acme/", {"logo": upload(640, 640)}, format="multipart"
    )
    assert response.status_code == 200, response.json()
    personas.acme.refresh_from_db()
    assert personas.acme.logo.name != before


@pytest.mark.parametrize("case", ["not square", "decompression bomb", "svg"])
def test_a_failed_patch_changes_nothing(personas, api, case):
    make, message = BAD_LOGOS[case]
    before = Publisher.objects.get(pk=personas.acme.pk)
    response = api(personas.owner).patch(
        "/api/v1/publishers/acme/", {"legal_name": "Renamed", "logo": make()}, format="multipart"
    )
    assert response.status_code == 400
    assert message in error_fields(response)["logo"][0]
    after = Publisher.objects.get(pk=personas.acme.pk)
    assert (after.legal_name, after.logo.name, after.updated_at) == (
        before.legal_name,
        before.logo.name,
        before.updated_at,
    )


def test_the_namespace_cannot_be_patched(personas, api):
    api(personas.owner).patch("/api/v1/publishers/acme/", {"namespace": "acme2"}, format="json")
    assert Publisher.objects.filter(namespace="acme").exists()


# --- who may do what -----------------------------------------------------------------------------


@pytest.fixture
def endpoints(personas, target) -> dict[str, tuple[str, str, dict[str, Any], Role]]:
    """name -> (method, path, body, least role allowed)."""
    invitation, _ = services.member_invite(
        publisher=personas.acme, actor=personas.owner, email="pending@example.com", role=Role.VIEWER
    )
    base = "/api/v1/publishers/acme"
    return {
        "read publisher": ("get", f"{base}/", {}, Role.VIEWER),
        "update publisher": ("patch", f"{base}/", {"story": "New story."}, Role.ADMIN),
        "list members": ("get", f"{base}/members/", {}, Role.VIEWER),
        "change role": ("patch", f"{base}/members/{target.pk}/", {"role": "editor"}, Role.ADMIN),
        "remove member": ("delete", f"{base}/members/{target.pk}/", {}, Role.ADMIN),
        "list invitations": ("get", f"{base}/invitations/", {}, Role.VIEWER),
        "invite": (
            "post",
            f"{base}/invitations/",
            {"email": "new@example.com", "role": "viewer"},
            Role.ADMIN,
        ),
        "revoke invitation": ("delete", f"{base}/invitations/{invitation.pk}/", {}, Role.ADMIN),
    }


ENDPOINTS = [
    "read publisher",
    "update publisher",
    "list members",
    "change role",
    "remove member",
    "list invitations",
    "invite",
    "revoke invitation",
]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("role", ["owner", "admin", "editor", "viewer"])
def test_each_role_can_call_exactly_what_it_should(people, endpoints, api, role, endpoint):
    method, path, body, least = endpoints[endpoint]
    response = getattr(api(people[role]), method)(path, body, format="json")
    if Role(role).at_least(least):
        assert response.status_code in (200, 201, 204), response.content
    else:
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "permission_denied"


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_an_outsider_gets_404_on_every_endpoint(personas, target, endpoints, api, endpoint):
    method, path, body, _least = endpoints[endpoint]
    response = getattr(api(personas.outsider), method)(path, body, format="json")
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "Not found."}}
    target.refresh_from_db()
    assert target.role == Role.VIEWER
    assert Invitation.objects.filter(publisher=personas.acme, revoked_at__isnull=True).count() == 1


def test_ids_from_another_tenant_answer_404(personas, api):
    globex_owner = Membership.objects.get(publisher=personas.other)
    client = api(personas.owner)
    assert (
        client.patch(f"/api/v1/publishers/acme/members/{globex_owner.pk}/", {"role": "viewer"}).status_code
        == 404
    )
    assert client.delete(f"/api/v1/publishers/acme/members/{globex_owner.pk}/").status_code == 404
    globex_owner.refresh_from_db()
    assert globex_owner.role == Role.OWNER


# --- members and invitations ---------------------------------------------------------------------


def test_member_list_queries_are_constant(personas, api):
    client = api(personas.owner)
    with CaptureQueriesContext(connection) as few:
        assert client.get("/api/v1/publishers/acme/members/").json()["count"] == 3
    for _ in range(7):
        MembershipFactory(publisher=personas.acme, role=Role.VIEWER)
    with CaptureQueriesContext(connection) as many:
        assert client.get("/api/v1/publishers/acme/members/").json()["count"] == 10
    assert len(many) == len(few)


def test_invitation_list_queries_are_constant(personas, api):
    client = api(personas.owner)
    services.member_invite(
        publisher=personas.acme, actor=personas.owner, email="i0@example.com", role="viewer"
    )
    with CaptureQueriesContext(connection) as one:
        assert client.get("/api/v1/publishers/acme/invitations/").json()["count"] == 1
    for n in range(1, 10):
        services.member_invite(
            publisher=personas.acme, actor=personas.owner, email=f"i{n}@example.com", role="viewer"
        )
    with CaptureQueriesContext(connection) as ten:
        assert client.get("/api/v1/publishers/acme/invitations/").json()["count"] == 10
    assert len(ten) == len(one)


def test_member_rules_come_back_as_field_errors(personas, acme_admin, api):
    owner = Membership.objects.get(publisher=personas.acme, user=personas.owner)
    response = api(personas.owner).patch(f"/api/v1/publishers/acme/members/{owner.pk}/", {"role": "viewer"})
    assert response.status_code == 400
    assert "is the last owner" in error_fields(response)["role"][0]

    response = api(acme_admin).patch(f"/api/v1/publishers/acme/members/{owner.pk}/", {"role": "viewer"})
    assert error_fields(response)["role"] == [
        "Only an owner can make someone an owner or change an owner's role."
    ]

    response = api(personas.owner).delete(f"/api/v1/publishers/acme/members/{owner.pk}/")
    assert response.status_code == 400
    assert "last owner and cannot be removed" in error_fields(response)["non_field_errors"][0]
    owner.refresh_from_db()
    assert owner.role == Role.OWNER


@pytest.mark.parametrize(
    ("email", "message"),
    [
        ("viewer@acme.example.com", "viewer@acme.example.com is already a member of acme."),
        ("pending@example.com", "pending@example.com already has a pending invitation"),
        ("not-an-email", "Enter a valid email address."),
    ],
)
def test_invite_refusals_name_the_reason(personas, api, email, message):
    services.member_invite(
        publisher=personas.acme, actor=personas.owner, email="pending@example.com", role="viewer"
    )
    response = api(personas.owner).post(
        "/api/v1/publishers/acme/invitations/", {"email": email, "role": "editor"}
    )
    assert response.status_code == 400
    assert any(message in error for error in error_fields(response)["email"])


def test_invite_then_accept_through_the_api(personas, api, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = api(personas.owner).post(
            "/api/v1/publishers/acme/invitations/", {"email": "new@example.com", "role": "admin"}
        )
    assert response.status_code == 201
    assert response.json()["invited_by"] == personas.owner.email
    [message] = mailoutbox
    token = message.body.split("/publishers/invitations/")[1].split("/")[0]

    invitee = UserFactory(email="new@example.com")
    response = api(invitee).post("/api/v1/invitations/accept/", {"token": token})
    assert response.status_code == 201
    assert response.json()["namespace"] == "acme"
    assert response.json()["role"] == "admin"

    again = api(invitee).post("/api/v1/invitations/accept/", {"token": token})
    assert again.status_code == 400
    assert "You already accepted this invitation" in error_fields(again)["token"][0]


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("other account", "but you are logged in as owner@globex.example.com"),
        ("expired", "This invitation expired on"),
        ("revoked", "withdrawn by the publisher"),
    ],
)
def test_accept_refusals_change_nothing(personas, api, case, message):
    invitation, token = services.member_invite(
        publisher=personas.acme, actor=personas.owner, email="new@example.com", role=Role.ADMIN
    )
    user = UserFactory(email="new@example.com")
    if case == "other account":
        user = personas.outsider
    elif case == "expired":
        Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(hours=1))
    else:
        api(personas.owner).delete(f"/api/v1/publishers/acme/invitations/{invitation.pk}/")
    response = api(user).post("/api/v1/invitations/accept/", {"token": token})
    assert response.status_code == 400
    assert message in error_fields(response)["token"][0]
    assert not Membership.objects.filter(publisher=personas.acme, user=user).exists()
    assert not AuditEvent.objects.filter(event_type=EventType.MEMBER_JOINED).exists()


def test_api_writes_record_their_audit_events(personas, target, api):
    client = api(personas.owner)
    client.patch(f"/api/v1/publishers/acme/members/{target.pk}/", {"role": "editor"})
    invitation = client.post(
        "/api/v1/publishers/acme/invitations/", {"email": "x@example.com", "role": "viewer"}
    )
    client.delete(f"/api/v1/publishers/acme/invitations/{invitation.json()['id']}/")
    client.delete(f"/api/v1/publishers/acme/members/{target.pk}/")
    assert list(
        AuditEvent.objects.filter(publisher=personas.acme).order_by("id").values_list("event_type", flat=True)
    ) == [
        EventType.MEMBER_ROLE_CHANGED,
        EventType.MEMBER_INVITED,
        EventType.INVITATION_REVOKED,
        EventType.MEMBER_REMOVED,
    ]

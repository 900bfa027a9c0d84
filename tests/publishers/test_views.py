"""Publisher pages: onboarding, dashboard, profile, members and invitations."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from audit.models import AuditEvent, EventType
from publishers import services
from publishers.models import Invitation, Membership, OnboardingStep, Publisher, Role
from tests.factories import MembershipFactory, UserFactory
from tests.images import upload
from tests.publishers.conftest import BAD_LOGOS

pytestmark = pytest.mark.django_db


def url(name: str, *args: Any) -> str:
    return reverse(f"publishers:{name}", args=args)


def field_errors(response, form: str = "form") -> dict[str, list[str]]:
    return {name: list(errors) for name, errors in response.context[form].errors.items()}


# --- onboarding ----------------------------------------------------------------------------------


def test_onboarding_walks_through_three_steps_to_the_dashboard(
    personas, login, profile_data, mailoutbox, django_capture_on_commit_callbacks
):
    user = UserFactory(email="founder@initech.example.com")
    client = login(user)

    page = client.get(url("create"))
    assert page.status_code == 200
    assert "Step 1 of 3: Company profile" in page.content.decode()

    response = client.post(url("create"), profile_data())
    publisher = Publisher.objects.get(namespace="initech")
    assert response.status_code == 302
    assert response.url == url("onboarding_support", "initech")
    assert publisher.memberships.get().user == user
    assert publisher.phone == "+14155550132"

    response = client.post(
        url("onboarding_support", "initech"),
        {
            "support_website": "https://support.initech.example.com",
            "support_email": "help@initech.example.com",
            "self_help_links": "https://docs.initech.example.com\nhttps://status.initech.example.com",
            "support_hours": "Mon-Fri 9-5 CT",
            "response_times": "Critical: 4 hours",
        },
    )
    assert response.url == url("onboarding_members", "initech")

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            url("onboarding_members", "initech"),
            {
                "form-TOTAL_FORMS": "3",
                "form-INITIAL_FORMS": "0",
                "form-0-email": "peter@initech.example.com",
                "form-0-role": "editor",
                "form-1-email": "",
                "form-1-role": "editor",
                "form-2-email": "",
                "form-2-role": "viewer",
                "action": "finish",
            },
        )
    assert response.status_code == 302
    assert response.url == url("dashboard", "initech")

    publisher.refresh_from_db()
    assert publisher.onboarding_completed_at is not None
    assert publisher.support_hours == "Mon-Fri 9-5 CT"
    assert publisher.invitations.get().email == "peter@initech.example.com"
    assert [m.to for m in mailoutbox] == [["peter@initech.example.com"]]
    assert set(AuditEvent.objects.filter(publisher=publisher).values_list("event_type", flat=True)) == {
        EventType.PUBLISHER_CREATED,
        EventType.PUBLISHER_PROFILE_CHANGED,
        EventType.MEMBER_INVITED,
        EventType.PUBLISHER_ONBOARDED,
    }
    dashboard = client.get(response.url).content.decode()
    assert "Initech LLC" in dashboard
    assert "peter@initech.example.com" in dashboard


def test_a_person_who_leaves_comes_back_to_their_step(personas, login, profile_data):
    client = login(personas.viewer)
    client.post(url("create"), profile_data())
    assert client.get(url("onboarding", "initech")).url == url("onboarding_support", "initech")

    client.post(url("onboarding_support", "initech"), {"support_email": "help@initech.example.com"})
    assert Publisher.objects.get(namespace="initech").onboarding_step == OnboardingStep.MEMBERS
    # Later, from anywhere: the start page and the dashboard point back to step 3.
    start = client.get(url("create")).content.decode()
    assert url("onboarding", "initech") in start
    assert client.get(url("onboarding", "initech")).url == url("onboarding_members", "initech")
    assert "step 3 of 3" in client.get(url("dashboard", "initech")).content.decode()


def test_send_and_add_more_stays_on_step_three(personas, login, profile_data):
    client = login(personas.viewer)
    client.post(url("create"), profile_data())
    response = client.post(
        url("onboarding_members", "initech"),
        {
            "form-TOTAL_FORMS": "1",
            "form-INITIAL_FORMS": "0",
            "form-0-email": "a@example.com",
            "form-0-role": "viewer",
            "action": "invite",
        },
    )
    assert response.url == url("onboarding_members", "initech")
    assert Publisher.objects.get(namespace="initech").onboarding_completed_at is None
    assert "a@example.com" in client.get(response.url).content.decode()


def test_step_three_refuses_the_same_address_twice_and_keeps_the_rows(personas, login, profile_data):
    client = login(personas.viewer)
    client.post(url("create"), profile_data())
    response = client.post(
        url("onboarding_members", "initech"),
        {
            "form-TOTAL_FORMS": "2",
            "form-INITIAL_FORMS": "0",
            "form-0-email": "a@example.com",
            "form-0-role": "viewer",
            "form-1-email": "A@example.com",
            "form-1-role": "admin",
            "action": "finish",
        },
    )
    assert response.status_code == 200
    assert response.context["formset"].forms[1].errors == {"email": ["a@example.com is listed twice."]}
    assert 'value="A@example.com"' in response.content.decode()
    assert not Invitation.objects.filter(publisher__namespace="initech").exists()


def test_onboarding_needs_a_verified_email(db, login):
    client = login(UserFactory(email_verified_at=None))
    response = client.get(url("create"))
    assert response.status_code == 302
    assert response.url == reverse("accounts:account")


def test_onboarding_needs_a_login(db, client):
    response = client.get(url("create"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("accounts:login"))


@pytest.mark.parametrize("case", list(BAD_LOGOS))
def test_step_one_says_what_is_wrong_with_the_logo_and_keeps_the_typing(personas, login, profile_data, case):
    make, message = BAD_LOGOS[case]
    response = login(personas.viewer).post(url("create"), profile_data(logo=make()))

    assert response.status_code == 200
    [error] = field_errors(response)["logo"]
    assert message in error
    html = response.content.decode()
    assert 'value="Initech LLC"' in html
    assert 'value="https://initech.example.com"' in html
    assert "choose the logo file again" in html
    assert not Publisher.objects.filter(namespace="initech").exists()
    assert not AuditEvent.objects.filter(event_type=EventType.PUBLISHER_CREATED).exists()


def test_step_one_refuses_a_file_over_the_size_limit(personas, login, profile_data, big_logo):
    response = login(personas.viewer).post(url("create"), profile_data(logo=big_logo()))
    [error] = field_errors(response)["logo"]
    assert error.startswith("The file is 0.")
    assert "the limit is 0.02 MB" in error


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"phone": "555 0132"}, "phone", "international format, starting with + and the country code"),
        ({"phone": "+1 000"}, "phone", "not a valid phone number"),
        ({"website": "http://"}, "website", "Enter a valid URL"),
        ({"company_email": "hello@"}, "company_email", "Enter a valid email address"),
        ({"namespace": "acme"}, "namespace", "The namespace “acme” is already taken; choose another."),
        ({"namespace": "admin"}, "namespace", "“admin” is reserved by the store."),
        ({"namespace": "new"}, "namespace", "“new” is reserved by the store."),
        ({"namespace": "Initech"}, "namespace", "Use lowercase letters only."),
        ({"namespace": "ini--tech"}, "namespace", "single separators"),
        ({"logo": None}, "logo", "This field is required."),
    ],
    ids=[
        "phone format",
        "phone invalid",
        "url",
        "email",
        "taken",
        "reserved",
        "reserved route",
        "case",
        "separators",
        "no logo",
    ],
)
def test_step_one_bad_input_gets_a_specific_message(personas, login, profile_data, overrides, field, message):
    data = profile_data(**overrides)
    response = login(personas.viewer).post(url("create"), data)
    assert response.status_code == 200
    assert any(message in error for error in field_errors(response)[field]), field_errors(response)
    html = response.content.decode()
    # What was typed is kept, the refused value included, so it can be corrected in place.
    assert 'value="Initech LLC"' in html
    if field != "logo":
        assert f'value="{escape(data[field])}"' in html
    assert Publisher.objects.count() == 2


def test_step_two_names_the_bad_self_help_line(personas, login, profile_data):
    client = login(personas.viewer)
    client.post(url("create"), profile_data())
    response = client.post(
        url("onboarding_support", "initech"),
        {"self_help_links": "https://docs.example.com\nnot a link", "support_hours": "9-5"},
    )
    assert field_errors(response)["self_help_links"] == [
        "Line 2 is not a web address (http:// or https://): “not a link”."
    ]
    assert 'value="9-5"' in response.content.decode()
    publisher = Publisher.objects.get(namespace="initech")
    assert (publisher.support_hours, publisher.onboarding_step) == ("", OnboardingStep.SUPPORT)


# --- profile -------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", list(BAD_LOGOS))
def test_a_failed_profile_edit_changes_nothing_stored(personas, login, case):
    make, message = BAD_LOGOS[case]
    before = Publisher.objects.get(pk=personas.acme.pk)
    response = login(personas.owner).post(
        url("profile", "acme"),
        {
            "legal_name": "Renamed Ltd",
            "website": "https://acme.example.com",
            "phone": "+14155550100",
            "company_email": "hello@acme.example.com",
            "logo": make(),
        },
    )
    assert response.status_code == 200
    assert message in field_errors(response)["logo"][0]
    assert 'value="Renamed Ltd"' in response.content.decode()
    after = Publisher.objects.get(pk=personas.acme.pk)
    assert (after.legal_name, after.logo.name, after.updated_at) == (
        before.legal_name,
        before.logo.name,
        before.updated_at,
    )
    # The page header still shows the stored name, not the rejected one.
    assert "← Acme Containers Ltd" in response.content.decode()
    assert not AuditEvent.objects.filter(event_type=EventType.PUBLISHER_PROFILE_CHANGED).exists()


def test_profile_edit_keeps_the_logo_when_none_is_chosen(personas, login):
    before = personas.acme.logo.name
    response = login(personas.owner).post(
        url("profile", "acme"),
        {
            "legal_name": "Acme Holdings",
            "website": "https://acme.example.com",
            "phone": "+44 20 7946 0123",
            "company_email": "hello@acme.example.com",
            "story": "We build databases.",
        },
    )
    assert response.status_code == 302
    personas.acme.refresh_from_db()
    assert (personas.acme.legal_name, personas.acme.phone, personas.acme.logo.name) == (
        "Acme Holdings",
        "+442079460123",
        before,
    )
    event = AuditEvent.objects.get(event_type=EventType.PUBLISHER_PROFILE_CHANGED)
    assert event.data == {"fields": ["legal_name", "phone", "website"]}  # only what changed


def test_profile_edit_replaces_the_logo(personas, login):
    before = personas.acme.logo.name
    response = login(personas.owner).post(
        url("profile", "acme"),
        {
            "legal_name": personas.acme.legal_name,
            "website": personas.acme.website,
            "phone": personas.acme.phone,
            "company_email": personas.acme.company_email,
            "story": personas.acme.story,
            "logo": upload(700, 700, "JPEG"),
        },
    )
    assert response.status_code == 302
    personas.acme.refresh_from_db()
    assert personas.acme.logo.name != before
    assert personas.acme.logo.name.endswith(".jpeg")


# --- who may do what -----------------------------------------------------------------------------

ROLES = ["owner", "admin", "editor", "viewer"]


def _actions(
    personas, target: Membership, invitation: Invitation
) -> dict[str, tuple[str, str, dict[str, Any], Role]]:
    """name -> (method, url, data, least role allowed)."""
    return {
        "dashboard": ("get", url("dashboard", "acme"), {}, Role.VIEWER),
        "members": ("get", url("members", "acme"), {}, Role.VIEWER),
        "profile page": ("get", url("profile", "acme"), {}, Role.ADMIN),
        "profile edit": ("post", url("profile", "acme"), {"legal_name": "X"}, Role.ADMIN),
        "onboarding": ("get", url("onboarding", "acme"), {}, Role.ADMIN),
        "onboarding support": ("get", url("onboarding_support", "acme"), {}, Role.ADMIN),
        "onboarding members": ("get", url("onboarding_members", "acme"), {}, Role.ADMIN),
        "invite": ("post", url("invite", "acme"), {"email": "new@example.com", "role": "viewer"}, Role.ADMIN),
        "change role": ("post", url("member_role", "acme", target.pk), {"role": "editor"}, Role.ADMIN),
        "remove member": ("post", url("member_remove", "acme", target.pk), {}, Role.ADMIN),
        "revoke invitation": ("post", url("invitation_revoke", "acme", invitation.pk), {}, Role.ADMIN),
    }


ACTION_NAMES = [
    "dashboard",
    "members",
    "profile page",
    "profile edit",
    "onboarding",
    "onboarding support",
    "onboarding members",
    "invite",
    "change role",
    "remove member",
    "revoke invitation",
]


@pytest.fixture
def pending(personas) -> Invitation:
    invitation, _ = services.member_invite(
        publisher=personas.acme, actor=personas.owner, email="pending@example.com", role=Role.VIEWER
    )
    return invitation


@pytest.mark.parametrize("action", ACTION_NAMES)
@pytest.mark.parametrize("role", ROLES)
def test_each_role_can_do_exactly_what_it_should(personas, people, target, pending, login, role, action):
    method, address, data, least = _actions(personas, target, pending)[action]
    response = getattr(login(people[role]), method)(address, data)
    if Role(role).at_least(least):
        assert response.status_code in (200, 302), response.status_code
    else:
        assert response.status_code == 403


@pytest.mark.parametrize("action", ACTION_NAMES)
def test_an_outsider_gets_404_everywhere(personas, target, pending, login, action):
    method, address, data, _least = _actions(personas, target, pending)[action]
    response = getattr(login(personas.outsider), method)(address, data)
    assert response.status_code == 404
    # And nothing changed on the way.
    target.refresh_from_db()
    pending.refresh_from_db()
    assert (target.role, pending.revoked_at) == (Role.VIEWER, None)
    assert Invitation.objects.filter(publisher=personas.acme).count() == 1


@pytest.mark.parametrize("action", ACTION_NAMES)
def test_anonymous_visitors_are_sent_to_log_in(personas, target, pending, client, action):
    method, address, data, _least = _actions(personas, target, pending)[action]
    response = getattr(client, method)(address, data)
    assert response.status_code == 302
    assert response.url.startswith(reverse("accounts:login"))


def test_ids_of_another_tenant_answer_404(personas, login):
    """acme's owner cannot reach globex's members or invitations through acme's pages."""
    globex_member = Membership.objects.get(publisher=personas.other)
    globex_invitation, _ = services.member_invite(
        publisher=personas.other, actor=personas.outsider, email="x@example.com", role=Role.VIEWER
    )
    client = login(personas.owner)
    for address in (
        url("member_role", "acme", globex_member.pk),
        url("member_remove", "acme", globex_member.pk),
        url("invitation_revoke", "acme", globex_invitation.pk),
    ):
        assert client.post(address, {"role": "viewer"}).status_code == 404
    assert Membership.objects.filter(pk=globex_member.pk, role=Role.OWNER).exists()
    globex_invitation.refresh_from_db()
    assert globex_invitation.revoked_at is None


# --- members and invitations ---------------------------------------------------------------------


def test_members_page_queries_do_not_grow_with_members(personas, login):
    client = login(personas.owner)
    services.member_invite(
        publisher=personas.acme, actor=personas.owner, email="i0@example.com", role="viewer"
    )
    client.get(url("members", "acme"))  # warm up: session, content types
    with CaptureQueriesContext(connection) as few:
        assert client.get(url("members", "acme")).status_code == 200
    for n in range(10):
        MembershipFactory(publisher=personas.acme, role=Role.EDITOR)
        services.member_invite(
            publisher=personas.acme, actor=personas.owner, email=f"more{n}@example.com", role="viewer"
        )
    with CaptureQueriesContext(connection) as many:
        response = client.get(url("members", "acme"))
    assert len(response.context["memberships"]) == 13
    assert len(response.context["invitations"]) == 11
    assert len(many) == len(few), [q["sql"] for q in many.captured_queries]


def test_dashboard_queries_do_not_grow_with_members(personas, login):
    client = login(personas.owner)
    client.get(url("dashboard", "acme"))
    with CaptureQueriesContext(connection) as few:
        client.get(url("dashboard", "acme"))
    for _ in range(10):
        MembershipFactory(publisher=personas.acme, role=Role.EDITOR)
    with CaptureQueriesContext(connection) as many:
        client.get(url("dashboard", "acme"))
    assert len(many) == len(few)


@pytest.mark.parametrize(
    ("email", "message"),
    [
        ("viewer@acme.example.com", "viewer@acme.example.com is already a member of acme."),
        ("pending@example.com", "pending@example.com already has a pending invitation"),
    ],
)
def test_invite_page_says_why_an_address_cannot_be_invited(personas, pending, login, email, message):
    response = login(personas.owner).post(url("invite", "acme"), {"email": email, "role": "admin"})
    assert response.status_code == 200
    assert any(message in error for error in response.context["invite_form"].errors["email"])
    assert f'value="{email}"' in response.content.decode()
    assert Invitation.objects.filter(publisher=personas.acme).count() == 1


def test_admins_are_not_offered_the_owner_role(personas, acme_admin, login):
    response = login(acme_admin).post(url("invite", "acme"), {"email": "boss@example.com", "role": "owner"})
    assert "Select a valid choice" in response.context["invite_form"].errors["role"][0]
    assert not Invitation.objects.filter(email="boss@example.com").exists()


def test_invite_and_revoke_from_the_members_page(
    personas, login, mailoutbox, django_capture_on_commit_callbacks
):
    client = login(personas.owner)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url("invite", "acme"), {"email": "New@Example.com", "role": "admin"})
    assert response.url == url("members", "acme")
    invitation = Invitation.objects.get(publisher=personas.acme)
    assert (invitation.email, invitation.role, invitation.invited_by) == (
        "new@example.com",
        "admin",
        personas.owner,
    )
    assert len(mailoutbox) == 1

    client.post(url("invitation_revoke", "acme", invitation.pk))
    invitation.refresh_from_db()
    assert invitation.revoked_at is not None
    assert list(client.get(url("members", "acme")).context["invitations"]) == []


def test_the_last_owner_cannot_be_demoted_or_removed_from_the_page(personas, login):
    client = login(personas.owner)
    owner = Membership.objects.get(publisher=personas.acme, user=personas.owner)
    response = client.post(url("member_role", "acme", owner.pk), {"role": "viewer"}, follow=True)
    assert "is the last owner" in response.content.decode()
    response = client.post(url("member_remove", "acme", owner.pk), follow=True)
    assert "last owner and cannot be removed" in response.content.decode()
    owner.refresh_from_db()
    assert owner.role == Role.OWNER


def test_an_admin_cannot_make_an_owner_from_the_page(personas, acme_admin, target, login):
    response = login(acme_admin).post(url("member_role", "acme", target.pk), {"role": "owner"}, follow=True)
    assert "Select a valid choice" in response.content.decode()
    target.refresh_from_db()
    assert target.role == Role.VIEWER


def test_change_role_and_remove_from_the_page(personas, target, login):
    client = login(personas.owner)
    client.post(url("member_role", "acme", target.pk), {"role": "admin"})
    target.refresh_from_db()
    assert target.role == Role.ADMIN
    client.post(url("member_remove", "acme", target.pk))
    assert not Membership.objects.filter(pk=target.pk).exists()
    assert list(
        AuditEvent.objects.filter(publisher=personas.acme).order_by("id").values_list("event_type", flat=True)
    ) == [EventType.MEMBER_ROLE_CHANGED, EventType.MEMBER_REMOVED]


# --- accepting ------------------------------------------------------------------------------------


@pytest.fixture
def invitation_for_new(personas) -> Callable[..., tuple[Invitation, str]]:
    def make(email: str = "new@example.com", role: Role = Role.EDITOR) -> tuple[Invitation, str]:
        return services.member_invite(publisher=personas.acme, actor=personas.owner, email=email, role=role)

    return make


def test_anonymous_visitors_log_in_and_come_back_to_the_link(personas, client, invitation_for_new):
    _invitation, token = invitation_for_new()
    address = url("invitation_accept", token)
    response = client.get(address)
    assert response.status_code == 302
    assert response.url == f"{reverse('accounts:login')}?next={address}"


def test_opening_the_link_changes_nothing_and_the_button_joins(personas, login, invitation_for_new):
    invitee = UserFactory(email="new@example.com")
    _invitation, token = invitation_for_new()
    client = login(invitee)
    page = client.get(url("invitation_accept", token))
    assert "Acme Containers Ltd" in page.content.decode()
    assert not Membership.objects.filter(user=invitee).exists()

    response = client.post(url("invitation_accept", token))
    assert response.url == url("dashboard", "acme")
    assert Membership.objects.get(user=invitee).role == Role.EDITOR
    assert AuditEvent.objects.filter(event_type=EventType.MEMBER_JOINED, actor=invitee).count() == 1


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("twice", "You already accepted this invitation"),
        (
            "other account",
            "This invitation was sent to new@example.com, but you are logged in as owner@globex",
        ),
        ("expired", "This invitation expired on"),
        ("revoked", "withdrawn by the publisher"),
    ],
)
def test_unusable_links_say_why(personas, login, invitation_for_new, case, message):
    invitee = UserFactory(email="new@example.com")
    invitation, token = invitation_for_new()
    user = invitee
    if case == "twice":
        login(invitee).post(url("invitation_accept", token))
    elif case == "other account":
        user = personas.outsider
    elif case == "expired":
        Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(days=1))
    elif case == "revoked":
        services.invitation_revoke(invitation=invitation, actor=personas.owner)
    before = Membership.objects.count()

    client = login(user)
    assert message in client.get(url("invitation_accept", token)).content.decode()
    response = client.post(url("invitation_accept", token))
    assert response.status_code == 400
    assert message in response.content.decode()
    assert Membership.objects.count() == before
    assert not Membership.objects.filter(publisher=personas.acme, user=personas.outsider).exists()

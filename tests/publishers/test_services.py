"""The publisher services: every write records its audit event, and the rules hold."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from audit.models import AuditEvent, EventType
from publishers import services
from publishers.models import Invitation, Membership, OnboardingStep, Publisher, Role, hash_invitation_token
from tests.factories import MembershipFactory, UserFactory
from tests.images import upload

pytestmark = pytest.mark.django_db


def events(publisher: Publisher, event_type: EventType) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(publisher=publisher, event_type=event_type))


def test_publisher_create_makes_the_actor_owner_and_records_it(personas, profile_data):
    """The creator owns the new publisher; the phone is stored in E.164; one event is recorded."""
    data = profile_data()
    publisher = services.publisher_create(actor=personas.viewer, **data)

    assert publisher.memberships.get().user == personas.viewer
    assert publisher.memberships.get().role == Role.OWNER
    assert publisher.phone == "+14155550132"
    assert publisher.company_email == "hello@initech.example.com"
    assert publisher.onboarding_step == OnboardingStep.SUPPORT
    assert publisher.onboarding_completed_at is None
    [event] = events(publisher, EventType.PUBLISHER_CREATED)
    assert event.actor == personas.viewer
    assert event.data["namespace"] == "initech"


def test_publisher_create_refuses_a_taken_namespace(personas, profile_data):
    with pytest.raises(ValidationError) as caught:
        services.publisher_create(actor=personas.owner, **profile_data(namespace="acme"))
    assert caught.value.message_dict == {
        "namespace": ["The namespace “acme” is already taken; choose another."]
    }
    assert Publisher.objects.count() == 2


def test_publisher_create_needs_a_verified_email(db, profile_data):
    unverified = UserFactory(email_verified_at=None)
    with pytest.raises(ValidationError, match="Verify your email"):
        services.publisher_create(actor=unverified, **profile_data())
    assert not Publisher.objects.exists()


def test_publisher_update_profile_records_the_changed_fields(personas):
    services.publisher_update_profile(
        publisher=personas.acme, actor=personas.owner, legal_name="Acme Holdings", story="We build databases."
    )
    personas.acme.refresh_from_db()
    assert personas.acme.legal_name == "Acme Holdings"
    [event] = events(personas.acme, EventType.PUBLISHER_PROFILE_CHANGED)
    assert event.data == {"fields": ["legal_name"]}  # the story did not change


def test_publisher_update_profile_with_a_bad_value_changes_nothing(personas):
    before = Publisher.objects.get(pk=personas.acme.pk)
    with pytest.raises(ValidationError) as caught:
        services.publisher_update_profile(
            publisher=personas.acme, actor=personas.owner, legal_name="New name", website="not a url"
        )
    assert "website" in caught.value.message_dict
    after = Publisher.objects.get(pk=personas.acme.pk)
    assert (after.legal_name, after.website, after.logo.name) == (
        before.legal_name,
        before.website,
        before.logo.name,
    )
    assert personas.acme.legal_name == "Acme Containers Ltd"  # the caller's object is untouched too
    assert not events(personas.acme, EventType.PUBLISHER_PROFILE_CHANGED)


def test_publisher_update_profile_replaces_the_logo_and_deletes_the_old_file(
    personas, django_capture_on_commit_callbacks
):
    old = personas.acme.logo.name
    storage = personas.acme.logo.storage
    with django_capture_on_commit_callbacks(execute=True):
        updated = services.publisher_update_profile(
            publisher=personas.acme, actor=personas.owner, logo=upload(600, 600)
        )
    assert updated.logo.name != old
    assert storage.exists(updated.logo.name)
    assert not storage.exists(old)


def test_editors_cannot_update_the_profile(personas):
    with pytest.raises(ValidationError, match="admin role or higher"):
        services.publisher_update_profile(publisher=personas.acme, actor=personas.member, legal_name="X")


def test_onboarding_steps_remember_progress_and_record_completion(personas, profile_data):
    publisher = services.publisher_create(actor=personas.outsider, **profile_data())
    services.onboarding_support_save(
        publisher=publisher,
        actor=personas.outsider,
        support_email="help@initech.example.com",
        self_help_links="https://docs.initech.example.com\n\n https://status.initech.example.com ",
    )
    publisher.refresh_from_db()
    assert publisher.onboarding_step == OnboardingStep.MEMBERS
    assert publisher.self_help_links == "https://docs.initech.example.com\nhttps://status.initech.example.com"

    services.onboarding_members_submit(
        publisher=publisher, actor=personas.outsider, invitations=[], finish=True
    )
    publisher.refresh_from_db()
    assert publisher.onboarding_completed_at is not None
    assert len(events(publisher, EventType.PUBLISHER_ONBOARDED)) == 1
    # Finishing again records nothing new.
    services.publisher_onboarding_complete(publisher=publisher, actor=personas.outsider)
    assert len(events(publisher, EventType.PUBLISHER_ONBOARDED)) == 1


def test_onboarding_invitations_are_all_or_nothing(personas, profile_data):
    publisher = services.publisher_create(actor=personas.outsider, **profile_data())
    with pytest.raises(ValidationError, match="already a member"):
        services.onboarding_members_submit(
            publisher=publisher,
            actor=personas.outsider,
            invitations=[("new@example.com", Role.EDITOR), (personas.outsider.email, Role.ADMIN)],
            finish=True,
        )
    assert not publisher.invitations.exists()
    publisher.refresh_from_db()
    assert publisher.onboarding_completed_at is None


# --- invitations ---------------------------------------------------------------------------------


def test_member_invite_stores_only_the_token_hash_and_emails_after_commit(
    personas, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        invitation, token = services.member_invite(
            publisher=personas.acme, actor=personas.owner, email="New.Person@Example.com", role=Role.EDITOR
        )
    assert mailoutbox == []  # nothing is sent before the transaction commits
    assert len(callbacks) == 1
    callbacks[0]()

    assert invitation.email == "new.person@example.com"
    assert invitation.token_hash == hash_invitation_token(token)
    assert token not in invitation.token_hash
    assert invitation.expires_at == invitation.created_at + timedelta(days=14)
    [message] = mailoutbox
    assert message.to == ["new.person@example.com"]
    assert f"/publishers/invitations/{token}/" in message.body
    assert "Acme Containers Ltd" in message.subject
    [event] = events(personas.acme, EventType.MEMBER_INVITED)
    assert event.data == {"email": "new.person@example.com", "role": "editor"}
    assert token not in str(event.data)


@pytest.mark.parametrize(
    ("email", "message"),
    [
        ("editor@acme.example.com", "editor@acme.example.com is already a member of acme."),
        ("pending@example.com", "pending@example.com already has a pending invitation"),
    ],
)
def test_member_invite_refuses_members_and_pending_invitations(personas, email, message):
    services.member_invite(
        publisher=personas.acme, actor=personas.owner, email="pending@example.com", role=Role.VIEWER
    )
    with pytest.raises(ValidationError, match=message):
        services.member_invite(
            publisher=personas.acme, actor=personas.owner, email=email.upper(), role=Role.VIEWER
        )
    assert len(events(personas.acme, EventType.MEMBER_INVITED)) == 1


def test_an_expired_invitation_can_be_sent_again(personas):
    old, _ = services.member_invite(
        publisher=personas.acme, actor=personas.owner, email="x@example.com", role="viewer"
    )
    Invitation.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    new, _ = services.member_invite(
        publisher=personas.acme, actor=personas.owner, email="x@example.com", role="viewer"
    )
    assert new.pk != old.pk
    old.refresh_from_db()
    assert old.revoked_at is not None


def test_only_owners_invite_owners(personas, acme_admin):
    with pytest.raises(ValidationError, match="Only an owner can make someone an owner"):
        services.member_invite(
            publisher=personas.acme, actor=acme_admin, email="boss@example.com", role=Role.OWNER
        )
    invitation, _ = services.member_invite(
        publisher=personas.acme, actor=personas.owner, email="boss@example.com", role=Role.OWNER
    )
    assert invitation.role == Role.OWNER


def test_invitation_accept_joins_with_the_role(personas):
    invitee = UserFactory(email="new@example.com")
    invitation, token = services.member_invite(
        publisher=personas.acme, actor=personas.owner, email="new@example.com", role=Role.ADMIN
    )
    membership = services.invitation_accept(token=token, user=invitee)
    assert (membership.publisher, membership.user, membership.role) == (personas.acme, invitee, Role.ADMIN)
    invitation.refresh_from_db()
    assert invitation.accepted_by == invitee
    [event] = events(personas.acme, EventType.MEMBER_JOINED)
    assert event.actor == invitee
    assert event.data == {"invitation": invitation.pk, "role": "admin"}


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("used twice", "You already accepted this invitation"),
        ("used by someone else", "This invitation has already been used"),
        ("other account", "This invitation was sent to new@example.com, but you are logged in as"),
        ("expired", "This invitation expired on"),
        ("revoked", "withdrawn by the publisher"),
        ("unknown token", "This invitation link is not valid"),
        ("unverified", "Verify your email address first"),
    ],
)
def test_invitation_accept_refusals_say_why_and_change_nothing(personas, case, message):
    invitee = UserFactory(email="new@example.com")
    invitation, token = services.member_invite(
        publisher=personas.acme, actor=personas.owner, email="new@example.com", role=Role.EDITOR
    )
    user = invitee
    if case == "used twice":
        services.invitation_accept(token=token, user=invitee)
    elif case == "used by someone else":
        services.invitation_accept(token=token, user=invitee)
        user = UserFactory(email="someone@example.com")
    elif case == "other account":
        user = personas.outsider
    elif case == "expired":
        Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    elif case == "revoked":
        services.invitation_revoke(invitation=invitation, actor=personas.owner)
    elif case == "unknown token":
        token = token[::-1]
    elif case == "unverified":
        invitee.email_verified_at = None
        invitee.save()
    memberships_before = Membership.objects.count()
    joined_before = len(events(personas.acme, EventType.MEMBER_JOINED))

    with pytest.raises(ValidationError, match=message) as caught:
        services.invitation_accept(token=token, user=user)

    assert list(caught.value.message_dict) == ["token"]
    assert Membership.objects.count() == memberships_before
    assert len(events(personas.acme, EventType.MEMBER_JOINED)) == joined_before


def test_invitation_revoke_records_it_once(personas):
    invitation, _ = services.member_invite(
        publisher=personas.acme, actor=personas.owner, email="x@example.com", role=Role.VIEWER
    )
    services.invitation_revoke(invitation=invitation, actor=personas.owner)
    services.invitation_revoke(invitation=invitation, actor=personas.owner)
    invitation.refresh_from_db()
    assert invitation.revoked_at is not None
    [event] = events(personas.acme, EventType.INVITATION_REVOKED)
    assert event.data == {"email": "x@example.com", "role": "viewer"}


# --- roles ---------------------------------------------------------------------------------------


def membership(publisher: Publisher, user) -> Membership:
    return Membership.objects.get(publisher=publisher, user=user)


def test_member_change_role_records_from_and_to(personas):
    services.member_change_role(
        membership=membership(personas.acme, personas.viewer), actor=personas.owner, role=Role.EDITOR
    )
    assert membership(personas.acme, personas.viewer).role == Role.EDITOR
    [event] = events(personas.acme, EventType.MEMBER_ROLE_CHANGED)
    assert event.data == {"email": personas.viewer.email, "from": "viewer", "to": "editor"}


@pytest.mark.parametrize(
    ("target_role", "new_role"),
    [(Role.VIEWER, Role.OWNER), (Role.OWNER, Role.VIEWER)],
    ids=["make owner", "unmake owner"],
)
def test_admins_cannot_make_or_unmake_owners(personas, acme_admin, target_role, new_role):
    target = MembershipFactory(publisher=personas.acme, role=target_role)
    with pytest.raises(ValidationError, match="Only an owner can"):
        services.member_change_role(membership=target, actor=acme_admin, role=new_role)
    target.refresh_from_db()
    assert target.role == target_role
    assert not events(personas.acme, EventType.MEMBER_ROLE_CHANGED)


def test_the_last_owner_cannot_be_demoted(personas):
    with pytest.raises(ValidationError, match="is the last owner"):
        services.member_change_role(
            membership=membership(personas.acme, personas.owner), actor=personas.owner, role=Role.ADMIN
        )
    assert membership(personas.acme, personas.owner).role == Role.OWNER


def test_an_owner_can_step_down_when_another_owner_remains(personas):
    services.member_change_role(
        membership=membership(personas.acme, personas.member), actor=personas.owner, role=Role.OWNER
    )
    services.member_change_role(
        membership=membership(personas.acme, personas.owner), actor=personas.owner, role=Role.ADMIN
    )
    assert membership(personas.acme, personas.owner).role == Role.ADMIN
    assert len(events(personas.acme, EventType.MEMBER_ROLE_CHANGED)) == 2


def test_member_remove_records_it(personas):
    target = membership(personas.acme, personas.viewer)
    services.member_remove(membership=target, actor=personas.owner)
    assert not Membership.objects.filter(pk=target.pk).exists()
    [event] = events(personas.acme, EventType.MEMBER_REMOVED)
    assert event.target_id == str(target.pk)
    assert event.data == {"email": personas.viewer.email, "role": "viewer"}


def test_the_last_owner_cannot_be_removed(personas):
    with pytest.raises(ValidationError, match="last owner and cannot be removed"):
        services.member_remove(membership=membership(personas.acme, personas.owner), actor=personas.owner)
    assert membership(personas.acme, personas.owner)


def test_admins_cannot_remove_owners(personas, acme_admin):
    MembershipFactory(publisher=personas.acme, role=Role.OWNER)  # not the last owner, still refused
    with pytest.raises(ValidationError, match="Only an owner can remove an owner"):
        services.member_remove(membership=membership(personas.acme, personas.owner), actor=acme_admin)


def test_the_logo_is_checked_by_the_service_too(personas, profile_data):
    """The API and the demo loader call the service directly; it checks the logo itself."""
    bad = SimpleUploadedFile("logo.png", b"nope", "image/png")
    with pytest.raises(ValidationError) as caught:
        services.publisher_create(actor=personas.owner, **profile_data(logo=bad))
    assert "not a readable image" in caught.value.message_dict["logo"][0]
    assert not Publisher.objects.filter(namespace="initech").exists()

"""Writes to publisher data. Each function validates, writes and records its audit event in one
transaction; emails are queued only after that transaction commits.

Business-rule failures raise ``ValidationError`` with a message that says what to do; the web forms
show it on the field it names and the API answers 400 with it.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.models import EventType
from audit.services import record
from publishers.models import (
    Invitation,
    Membership,
    OnboardingStep,
    Publisher,
    Role,
    hash_invitation_token,
)
from publishers.selectors import invitation_conflict
from publishers.validators import normalize_phone

if TYPE_CHECKING:
    from accounts.models import User

# What the profile and support forms may change; the namespace is fixed at creation.
PROFILE_FIELDS = ("legal_name", "website", "phone", "company_email", "logo", "story")
SUPPORT_FIELDS = ("support_website", "support_email", "self_help_links", "support_hours", "response_times")
EDITABLE_FIELDS = frozenset(PROFILE_FIELDS + SUPPORT_FIELDS)


def _role_of(publisher: Publisher, user: User) -> Role | None:
    membership = publisher.memberships.filter(user=user).first()
    return membership.role_enum if membership else None


def _require_role(publisher: Publisher, user: User, minimum: Role) -> Role:
    """The actor's role, checked again inside the write (the view checked it too)."""
    role = _role_of(publisher, user)
    if role is None or not role.at_least(minimum):
        raise ValidationError(f"This needs the {minimum.label.lower()} role or higher.", code="role")
    return role


def _normalise(changes: dict[str, Any]) -> dict[str, Any]:
    changes = dict(changes)
    if changes.get("phone"):
        changes["phone"] = normalize_phone(changes["phone"])
    for name in ("company_email", "support_email"):
        if changes.get(name):
            changes[name] = changes[name].strip().lower()
    if changes.get("self_help_links"):
        lines = [line.strip() for line in changes["self_help_links"].splitlines()]
        changes["self_help_links"] = "\n".join(line for line in lines if line)
    return changes


def _namespace_taken(namespace: str) -> ValidationError:
    return ValidationError(
        {"namespace": f"The namespace “{namespace}” is already taken; choose another."},
        code="namespace_taken",
    )


def publisher_create(
    *,
    actor: User,
    namespace: str,
    legal_name: str,
    website: str,
    phone: str,
    company_email: str,
    logo: UploadedFile,
    story: str = "",
    **support: str,
) -> Publisher:
    """Create a publisher with ``actor`` as its owner: the end of onboarding step 1."""
    unknown = set(support) - set(SUPPORT_FIELDS)
    if unknown:
        raise TypeError(f"Unknown publisher fields: {', '.join(sorted(unknown))}")
    if not actor.email_verified:
        raise ValidationError("Verify your email address before creating a publisher.", code="unverified")
    fields = _normalise(
        {
            "legal_name": legal_name,
            "website": website,
            "phone": phone,
            "company_email": company_email,
            "story": story,
            **support,
        }
    )
    publisher = Publisher(namespace=namespace, logo=logo, onboarding_step=OnboardingStep.SUPPORT, **fields)
    publisher.full_clean(validate_unique=False)
    if Publisher.objects.filter(namespace=namespace).exists():
        raise _namespace_taken(namespace)
    try:
        with transaction.atomic():
            publisher.save()
            membership = Membership.objects.create(publisher=publisher, user=actor, role=Role.OWNER)
            record(
                event_type=EventType.PUBLISHER_CREATED,
                actor=actor,
                publisher=publisher,
                target=publisher,
                data={"namespace": namespace, "owner_membership": membership.pk},
            )
    except IntegrityError:
        # Someone took the namespace between the check and the insert.
        raise _namespace_taken(namespace) from None
    return publisher


def publisher_update_profile(*, publisher: Publisher, actor: User, **changes: Any) -> Publisher:
    """Change profile and support fields (admin or owner). A failed check changes nothing stored.

    ``logo`` may be omitted or None to keep the current one. Records which fields changed.
    """
    unknown = set(changes) - EDITABLE_FIELDS
    if unknown:
        raise TypeError(f"Fields that cannot be changed here: {', '.join(sorted(unknown))}")
    if not isinstance(changes.get("logo"), UploadedFile):
        changes.pop("logo", None)
    changes = _normalise(changes)
    with transaction.atomic():
        _require_role(publisher, actor, Role.ADMIN)
        # Work on a fresh copy so a failed check leaves the caller's object untouched too.
        current = Publisher.objects.select_for_update().get(pk=publisher.pk)
        old_logo = current.logo.name
        changed = [
            name for name, value in changes.items() if name == "logo" or getattr(current, name) != value
        ]
        if not changed:
            return current
        for name in changed:
            setattr(current, name, changes[name])
        current.full_clean(validate_unique=False)
        current.save(update_fields=[*changed, "updated_at"])
        record(
            event_type=EventType.PUBLISHER_PROFILE_CHANGED,
            actor=actor,
            publisher=current,
            target=current,
            data={"fields": sorted(changed)},
        )
        if "logo" in changed and old_logo and old_logo != current.logo.name:
            storage = current.logo.storage
            transaction.on_commit(lambda: storage.delete(old_logo))
    return current


def _advance(publisher: Publisher, step: OnboardingStep) -> None:
    # Remembered so a person who leaves comes back to the step they reached.
    if publisher.onboarding_completed_at is None and publisher.onboarding_step < step:
        publisher.onboarding_step = step
        publisher.save(update_fields=["onboarding_step", "updated_at"])


def onboarding_support_save(*, publisher: Publisher, actor: User, **support: str) -> Publisher:
    """Onboarding step 2: save the support and SLA fields and move on to inviting members."""
    unknown = set(support) - set(SUPPORT_FIELDS)
    if unknown:
        raise TypeError(f"Not support fields: {', '.join(sorted(unknown))}")
    with transaction.atomic():
        current = publisher_update_profile(publisher=publisher, actor=actor, **support)
        _advance(current, OnboardingStep.MEMBERS)
    return current


def onboarding_members_submit(
    *, publisher: Publisher, actor: User, invitations: list[tuple[str, Role]], finish: bool
) -> list[Invitation]:
    """Onboarding step 3: send the invitations listed and, with ``finish``, complete onboarding.

    All or nothing: one refused invitation sends none of them.
    """
    with transaction.atomic():
        sent = [
            member_invite(publisher=publisher, actor=actor, email=email, role=role)[0]
            for email, role in invitations
        ]
        _advance(publisher, OnboardingStep.MEMBERS)
        if finish:
            publisher_onboarding_complete(publisher=publisher, actor=actor)
    return sent


def publisher_onboarding_complete(*, publisher: Publisher, actor: User) -> Publisher:
    """Finish onboarding. Finishing twice is harmless and records nothing the second time."""
    with transaction.atomic():
        _require_role(publisher, actor, Role.ADMIN)
        current = Publisher.objects.select_for_update().get(pk=publisher.pk)
        if current.onboarding_completed_at is None:
            current.onboarding_completed_at = timezone.now()
            current.save(update_fields=["onboarding_completed_at", "updated_at"])
            record(
                event_type=EventType.PUBLISHER_ONBOARDED,
                actor=actor,
                publisher=current,
                target=current,
            )
    return current


def _check_assignable(actor_role: Role, role: Role) -> None:
    if role == Role.OWNER and actor_role != Role.OWNER:
        raise ValidationError({"role": "Only an owner can make someone an owner."}, code="owner_only")


def member_invite(*, publisher: Publisher, actor: User, email: str, role: Role) -> tuple[Invitation, str]:
    """Invite ``email`` with ``role`` (admin or owner; only owners invite owners).

    Returns the invitation and its token; only the token's SHA-256 is stored, and the email with
    the accept link is sent after the transaction commits.
    """
    from publishers.tasks import send_invitation_email

    email = email.strip().lower()
    role = Role(role)
    with transaction.atomic():
        actor_role = _require_role(publisher, actor, Role.ADMIN)
        _check_assignable(actor_role, role)
        # Expired invitations no longer count, but they still hold the "one open invitation per
        # address" constraint; they are superseded by the new one.
        publisher.invitations.filter(
            email__iexact=email,
            accepted_at__isnull=True,
            revoked_at__isnull=True,
            expires_at__lte=timezone.now(),
        ).update(revoked_at=timezone.now())
        conflict = invitation_conflict(publisher, email)
        if conflict:
            raise ValidationError({"email": conflict}, code="invitation_conflict")
        token = Invitation.generate_token()
        now = timezone.now()
        try:
            with transaction.atomic():
                invitation = Invitation.objects.create(
                    publisher=publisher,
                    email=email,
                    role=role,
                    token_hash=hash_invitation_token(token),
                    invited_by=actor,
                    created_at=now,
                    expires_at=now + settings.INVITATION_MAX_AGE,
                )
        except IntegrityError:
            raise ValidationError(
                {"email": f"{email} already has a pending invitation; revoke it first to send a new one."},
                code="invitation_conflict",
            ) from None
        record(
            event_type=EventType.MEMBER_INVITED,
            actor=actor,
            publisher=publisher,
            target=invitation,
            data={"email": email, "role": role.value},
        )
        transaction.on_commit(lambda: send_invitation_email.delay(invitation.pk, token))
    return invitation, token


def invitation_revoke(*, invitation: Invitation, actor: User) -> Invitation:
    """Withdraw a pending invitation (admin or owner); its link stops working."""
    with transaction.atomic():
        _require_role(invitation.publisher, actor, Role.ADMIN)
        current = Invitation.objects.select_for_update().get(pk=invitation.pk)
        if current.accepted_at is not None:
            raise ValidationError("This invitation was already accepted; remove the member instead.")
        if current.revoked_at is None:
            current.revoked_at = timezone.now()
            current.save(update_fields=["revoked_at"])
            record(
                event_type=EventType.INVITATION_REVOKED,
                actor=actor,
                publisher=current.publisher,
                target=current,
                data={"email": current.email, "role": current.role},
            )
    return current


def _describe_unusable(invitation: Invitation, user: User, now: datetime) -> str | None:
    if invitation.accepted_at is not None:
        if invitation.accepted_by_id == user.pk:
            return (
                f"You already accepted this invitation; you are a member of {invitation.publisher.namespace}."
            )
        return "This invitation has already been used. Ask an admin of the publisher for a new one."
    if invitation.revoked_at is not None:
        return "This invitation was withdrawn by the publisher. Ask one of its admins for a new one."
    if invitation.expires_at <= now:
        return (
            f"This invitation expired on {invitation.expires_at:%d %B %Y}. "
            "Ask an admin of the publisher to send a new one."
        )
    if invitation.email.lower() != user.email.lower():
        return (
            f"This invitation was sent to {invitation.email}, but you are logged in as {user.email}. "
            "Log in with the invited address to accept it."
        )
    if not user.email_verified:
        return "Verify your email address first, then open the invitation link again."
    if invitation.publisher.memberships.filter(user=user).exists():
        return f"You are already a member of {invitation.publisher.namespace}."
    return None


def invitation_problem(*, invitation: Invitation | None, user: User) -> str | None:
    """Why ``user`` cannot accept ``invitation`` now, or None when they can."""
    if invitation is None:
        return "This invitation link is not valid. Check that you copied the whole link."
    return _describe_unusable(invitation, user, timezone.now())


def invitation_accept(*, token: str, user: User) -> Membership:
    """Join the publisher with the invited role. The person's email must be the invited address."""
    with transaction.atomic():
        invitation = (
            Invitation.objects.select_for_update(of=("self",))
            .select_related("publisher")
            .filter(token_hash=hash_invitation_token(token))
            .first()
        )
        problem = invitation_problem(invitation=invitation, user=user)
        if problem:
            raise ValidationError({"token": problem}, code="invitation_unusable")
        assert invitation is not None
        publisher = invitation.publisher
        invitation.accepted_at = timezone.now()
        invitation.accepted_by = user
        invitation.save(update_fields=["accepted_at", "accepted_by"])
        membership = Membership.objects.create(publisher=publisher, user=user, role=invitation.role)
        record(
            event_type=EventType.MEMBER_JOINED,
            actor=user,
            publisher=publisher,
            target=membership,
            data={"invitation": invitation.pk, "role": invitation.role},
        )
    return membership


def _owners_locked(publisher: Publisher) -> int:
    """Lock the owner rows so two owners cannot demote each other at the same moment."""
    return len(
        list(publisher.memberships.select_for_update().filter(role=Role.OWNER).values_list("pk", flat=True))
    )


def member_change_role(*, membership: Membership, actor: User, role: Role) -> Membership:
    """Give a member another role (admin or owner). Only owners make or unmake owners, and the
    last owner can never be demoted."""
    role = Role(role)
    with transaction.atomic():
        publisher = membership.publisher
        actor_role = _require_role(publisher, actor, Role.ADMIN)
        current = Membership.objects.select_for_update().select_related("user").get(pk=membership.pk)
        old = current.role_enum
        if old == role:
            return current
        if Role.OWNER in (old, role) and actor_role != Role.OWNER:
            raise ValidationError(
                {"role": "Only an owner can make someone an owner or change an owner's role."},
                code="owner_only",
            )
        if old == Role.OWNER and _owners_locked(publisher) <= 1:
            raise ValidationError(
                {"role": f"{current.user.email} is the last owner; make someone else an owner first."},
                code="last_owner",
            )
        current.role = role
        current.save(update_fields=["role"])
        record(
            event_type=EventType.MEMBER_ROLE_CHANGED,
            actor=actor,
            publisher=publisher,
            target=current,
            data={"email": current.user.email, "from": old.value, "to": role.value},
        )
    return current


def member_remove(*, membership: Membership, actor: User) -> None:
    """Remove a member (admin or owner). Only owners remove owners; never the last owner."""
    with transaction.atomic():
        publisher = membership.publisher
        actor_role = _require_role(publisher, actor, Role.ADMIN)
        current = Membership.objects.select_for_update().select_related("user").get(pk=membership.pk)
        if current.role_enum == Role.OWNER:
            if actor_role != Role.OWNER:
                raise ValidationError("Only an owner can remove an owner.", code="owner_only")
            if _owners_locked(publisher) <= 1:
                raise ValidationError(
                    f"{current.user.email} is the last owner and cannot be removed; "
                    "make someone else an owner first.",
                    code="last_owner",
                )
        record(
            event_type=EventType.MEMBER_REMOVED,
            actor=actor,
            publisher=publisher,
            target=current,
            data={"email": current.user.email, "role": current.role},
        )
        current.delete()

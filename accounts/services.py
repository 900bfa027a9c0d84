"""Writes to accounts. Each writes its audit event in the same transaction and queues email on commit."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts import tasks
from accounts.models import AccessToken, Scope, User, hash_token
from audit.models import EventType
from audit.services import record

TOKEN_NAME_MAX_LENGTH = AccessToken._meta.get_field("name").max_length or 100
# The resend and reset forms answer anyone, so each account gets at most one email of a kind
# per this many seconds: the forms cannot be used to flood somebody's mailbox.
EMAIL_COOLDOWN_SECONDS = 60


def _email_allowed(*, kind: str, user: User) -> bool:
    # add() writes only when the key is absent, atomically, also with several web nodes.
    return bool(cache.add(f"accounts:email-cooldown:{kind}:{user.pk}", 1, timeout=EMAIL_COOLDOWN_SECONDS))


def user_sign_up(*, email: str, full_name: str, password: str) -> User:
    """Create an unverified account and email it a verification link once the row is committed."""
    email = email.strip().lower()
    try:
        with transaction.atomic():
            user = User.objects.create_user(email=email, password=password, full_name=full_name.strip())
            record(event_type=EventType.USER_SIGNED_UP, actor=user, target=user)
    except IntegrityError:
        # Someone signed up with the same address between the form's check and this insert.
        raise ValidationError({"email": ["An account with this email address already exists."]}) from None
    _email_allowed(kind="verification", user=user)  # starts the cooldown of the resend form
    _queue_verification_email(user)
    return user


def verification_email_request(*, email: str) -> bool:
    """Send a new verification link if ``email`` belongs to an active, unverified account.

    Answers whether one was queued (not when one went out under a minute ago); callers show the
    same message either way, so the form cannot be used to learn which addresses have accounts.
    """
    user = User.objects.filter(
        email=email.strip().lower(), is_active=True, email_verified_at__isnull=True
    ).first()
    if user is None or not _email_allowed(kind="verification", user=user):
        return False
    _queue_verification_email(user)
    return True


def _queue_verification_email(user: User) -> None:
    user_id = user.pk
    transaction.on_commit(lambda: tasks.send_verification_email.delay(user_id=user_id))


def user_email_verify(*, user: User) -> bool:
    """Mark ``user``'s address as confirmed. Answers False when it already was (a link used twice)."""
    now = timezone.now()
    with transaction.atomic():
        # A conditional UPDATE, so two clicks racing each other confirm (and audit) only once.
        updated = User.objects.filter(pk=user.pk, email_verified_at__isnull=True).update(
            email_verified_at=now
        )
        if updated:
            user.email_verified_at = now
            record(event_type=EventType.USER_EMAIL_VERIFIED, actor=user, target=user)
    return bool(updated)


def password_reset_email_request(*, user: User) -> None:
    """Email ``user`` a reset link, at most once per EMAIL_COOLDOWN_SECONDS."""
    if not _email_allowed(kind="password_reset", user=user):
        return
    user_id = user.pk
    transaction.on_commit(lambda: tasks.send_password_reset_email.delay(user_id=user_id))


def user_password_reset(*, user: User, password: str) -> User:
    """Set the password chosen through an emailed reset link.

    The link reached the person at their address, so an address still unconfirmed counts as
    confirmed from here on (and that is audited too).
    """
    now = timezone.now()
    with transaction.atomic():
        user.set_password(password)
        fields = ["password"]
        newly_verified = user.email_verified_at is None
        if newly_verified:
            user.email_verified_at = now
            fields.append("email_verified_at")
        user.save(update_fields=fields)
        record(event_type=EventType.USER_PASSWORD_RESET, actor=user, target=user)
        if newly_verified:
            record(
                event_type=EventType.USER_EMAIL_VERIFIED,
                actor=user,
                target=user,
                data={"via": "password_reset"},
            )
    return user


def user_profile_update(*, user: User, full_name: str) -> User:
    user.full_name = full_name.strip()
    user.save(update_fields=["full_name"])
    return user


def _clean_token_input(
    *, user: User, name: str, scopes: Iterable[str], expires_at: datetime | None
) -> tuple[str, list[str]]:
    errors: dict[str, list[str]] = {}
    name = name.strip()
    if not name:
        errors["name"] = ["Give the token a name, e.g. the machine or script that will use it."]
    elif len(name) > TOKEN_NAME_MAX_LENGTH:
        errors["name"] = [f"Keep the name to {TOKEN_NAME_MAX_LENGTH} characters or fewer."]
    elif AccessToken.objects.filter(user=user, name=name, revoked_at__isnull=True).exists():
        errors["name"] = [_duplicate_name_message(name)]
    wanted = set(scopes)
    unknown = sorted(wanted - set(Scope.values))
    if unknown:
        errors["scopes"] = [
            f"“{scope}” is not a scope; choose from {', '.join(Scope.values)}." for scope in unknown
        ]
    elif not wanted:
        errors["scopes"] = ["Choose at least one scope."]
    if expires_at is not None and expires_at <= timezone.now():
        errors["expires_at"] = ["The expiry must be in the future."]
    if errors:
        raise ValidationError(errors)
    return name, [scope for scope in Scope.values if scope in wanted]


def _duplicate_name_message(name: str) -> str:
    return f"You already have a token named “{name}”. Choose another name or revoke that token first."


def access_token_create(
    *,
    user: User,
    name: str,
    scopes: Iterable[str],
    expires_at: datetime | None = None,
    actor: User | None,
) -> tuple[AccessToken, str]:
    """Create a token for ``user`` and answer it with the raw token, which is never stored.

    Raises ValidationError keyed by ``name``, ``scopes`` or ``expires_at`` on bad input: an empty
    or taken name (among tokens not revoked), no scope or an unknown one, an expiry in the past.
    ``actor`` is who asked for it: the user themself, or None for an operator's command.
    """
    name, clean_scopes = _clean_token_input(user=user, name=name, scopes=scopes, expires_at=expires_at)
    raw = AccessToken.generate()
    try:
        with transaction.atomic():
            token = AccessToken.objects.create(
                user=user,
                name=name,
                token_hash=hash_token(raw),
                prefix=raw[: AccessToken._meta.get_field("prefix").max_length],
                scopes=clean_scopes,
                expires_at=expires_at,
            )
            record(
                event_type=EventType.TOKEN_CREATED,
                actor=actor,
                target=token,
                data={
                    "user": user.email,
                    "name": token.name,
                    "prefix": token.prefix,
                    "scopes": token.scopes,
                    "expires_at": expires_at.isoformat() if expires_at else None,
                },
            )
    except IntegrityError:
        # The same name created concurrently: the database's partial unique constraint caught it.
        raise ValidationError({"name": [_duplicate_name_message(name)]}) from None
    return token, raw


def access_token_revoke(*, token: AccessToken, actor: User | None) -> bool:
    """Revoke ``token`` from now on. Answers False when it already was revoked (nothing changes)."""
    now = timezone.now()
    with transaction.atomic():
        updated = AccessToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=now)
        if updated:
            token.revoked_at = now
            record(
                event_type=EventType.TOKEN_REVOKED,
                actor=actor,
                target=token,
                data={"user": token.user.email, "name": token.name, "prefix": token.prefix},
            )
    return bool(updated)

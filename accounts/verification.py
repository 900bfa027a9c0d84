"""Signed email-verification links: no table, the signature and its timestamp are the state.

The signed value names the user and the address the link was sent to, so a link keeps working only
for that address. Whether a link was already used is read from ``User.email_verified_at``.
"""

from __future__ import annotations

from django.conf import settings
from django.core import signing

from accounts.models import User

# Specific to this purpose, so no other signed value of the site can be replayed as a link.
SALT = "accounts.email-verification"


class VerificationLinkError(Exception):
    """The link cannot be used. ``expired`` tells an old but genuine link from a broken one."""

    def __init__(self, *, expired: bool) -> None:
        super().__init__("expired" if expired else "invalid")
        self.expired = expired


def verification_token_make(*, user: User) -> str:
    return signing.TimestampSigner(salt=SALT).sign_object({"user": user.pk, "email": user.email})


def verification_token_read(*, token: str) -> User:
    """The user a link was made for, or VerificationLinkError when it is expired or not genuine."""
    signer = signing.TimestampSigner(salt=SALT)
    try:
        value = signer.unsign_object(token, max_age=settings.EMAIL_VERIFICATION_MAX_AGE)
    except signing.SignatureExpired:
        raise VerificationLinkError(expired=True) from None
    except signing.BadSignature:
        raise VerificationLinkError(expired=False) from None
    if not isinstance(value, dict) or not isinstance(value.get("user"), int):
        raise VerificationLinkError(expired=False)
    user = User.objects.filter(pk=value["user"], email=value.get("email"), is_active=True).first()
    if user is None:
        raise VerificationLinkError(expired=False)
    return user

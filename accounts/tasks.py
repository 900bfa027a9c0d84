"""Account emails, sent by workers after the transaction that asked for them has committed.

Links are made here, at send time, so a retried task still sends a link that works for the full
period, and no signed link or reset token ever sits in the broker.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts.models import User
from accounts.verification import verification_token_make
from store.mail import RETRY_ON, send_templated

# A mail server that is down for a while is retried with back-off, for up to about a day
# (RETRY_ON from store.mail).


def _send(*, template: str, to: str, context: dict[str, Any]) -> None:
    send_templated(template=f"emails/accounts/{template}", to=to, context=context)


@shared_task(acks_late=True, autoretry_for=RETRY_ON, retry_backoff=30, retry_backoff_max=3600, max_retries=25)
def send_verification_email(*, user_id: int) -> None:
    """Email a link that confirms the address; nothing to do once the address is confirmed."""
    user = User.objects.filter(pk=user_id, is_active=True, email_verified_at__isnull=True).first()
    if user is None:
        return
    path = reverse("accounts:verify_email", args=[verification_token_make(user=user)])
    max_age = settings.EMAIL_VERIFICATION_MAX_AGE
    _send(
        template="verify_email",
        to=user.email,
        context={"user": user, "link": settings.SITE_URL + path, "valid_days": max_age.days},
    )


@shared_task(acks_late=True, autoretry_for=RETRY_ON, retry_backoff=30, retry_backoff_max=3600, max_retries=25)
def send_password_reset_email(*, user_id: int) -> None:
    """Email a one-use link to choose a new password (Django's reset token)."""
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None or not user.has_usable_password():
        return
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    path = reverse(
        "accounts:password_reset_confirm",
        kwargs={"uidb64": uid, "token": default_token_generator.make_token(user)},
    )
    valid_days = max(1, settings.PASSWORD_RESET_TIMEOUT // 86400)
    _send(
        template="password_reset",
        to=user.email,
        context={"user": user, "link": settings.SITE_URL + path, "valid_days": valid_days},
    )

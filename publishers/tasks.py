"""Background work for publishers: the invitation email."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings
from django.urls import reverse

from publishers.models import Invitation
from store.mail import RETRY_ON, send_templated

logger = logging.getLogger(__name__)


@shared_task(
    acks_late=True,
    autoretry_for=RETRY_ON,
    retry_backoff=30,
    retry_jitter=True,
    max_retries=6,
)
def send_invitation_email(invitation_id: int, token: str) -> bool:
    """Email the accept link. The raw token exists only here and in the email: the database keeps
    its SHA-256. Invitations revoked or accepted before the task runs are not sent."""
    invitation = Invitation.objects.select_related("publisher", "invited_by").filter(pk=invitation_id).first()
    if invitation is None or not invitation.is_pending:
        logger.info("Invitation %s is no longer pending; not sending it.", invitation_id)
        return False
    context = {
        "invitation": invitation,
        "publisher": invitation.publisher,
        "inviter": invitation.invited_by,
        "accept_url": settings.SITE_URL + reverse("publishers:invitation_accept", args=[token]),
        "site_name": settings.SITE_NAME,
    }
    send_templated(template="emails/publishers/invitation", to=invitation.email, context=context)
    return True

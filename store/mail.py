"""The one place the store sends email from.

Each email is a set of templates: ``<name>_subject.txt``, ``<name>.txt`` and, optionally,
``<name>.html``. Tasks call ``send_templated``; a mail server that is down raises one of
``RETRY_ON``, which the tasks retry with back-off.
"""

from __future__ import annotations

import contextlib
import smtplib
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.template import TemplateDoesNotExist
from django.template.loader import render_to_string

RETRY_ON = (smtplib.SMTPException, OSError)


def build(
    *, template: str, to: str | Iterable[str], context: dict[str, Any], headers: dict[str, str] | None = None
) -> EmailMultiAlternatives:
    """Render ``template`` (e.g. ``emails/accounts/verify_email``) into a message, unsent."""
    context = {"site_name": settings.SITE_NAME, "site_url": settings.SITE_URL, **context}
    subject = " ".join(render_to_string(f"{template}_subject.txt", context).split())
    recipients = [to] if isinstance(to, str) else list(to)
    message = EmailMultiAlternatives(
        subject=subject, body=render_to_string(f"{template}.txt", context), to=recipients, headers=headers
    )
    with contextlib.suppress(TemplateDoesNotExist):
        message.attach_alternative(render_to_string(f"{template}.html", context), "text/html")
    return message


def send_templated(*, template: str, to: str | Iterable[str], context: dict[str, Any]) -> int:
    """Render ``template`` and send it; returns 1 if sent."""
    return build(template=template, to=to, context=context).send()


def send_all(messages: list[EmailMultiAlternatives]) -> int:
    """Send many messages over one connection; returns how many were sent."""
    with get_connection() as connection:
        return connection.send_messages(messages) or 0

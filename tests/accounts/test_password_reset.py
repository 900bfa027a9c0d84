"""Password reset with Django's views: an emailed one-use link, a new password, an audit event."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.urls import reverse

from accounts.models import User
from audit.models import AuditEvent, EventType
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "an entirely new passphrase"


def request_reset(client, email, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return client.post(reverse("accounts:password_reset"), {"email": email})


def link_path() -> str:
    return re.search(r"http://[^/]+(/accounts/password-reset/\S+/\S+/)", mail.outbox[-1].body).group(1)


def test_reset_end_to_end(client, user, django_capture_on_commit_callbacks):
    """Request, open the emailed link, set a new password, log in with it; the reset is audited."""
    response = request_reset(client, "ada@example.com", django_capture_on_commit_callbacks)
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:password_reset_done")
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["ada@example.com"]
    assert "Reset your" in mail.outbox[0].subject

    # Django swaps the token in the URL for a session-held one, then shows the form.
    response = client.get(link_path(), follow=True)
    assert response.context["validlink"] is True
    form_url = response.redirect_chain[-1][0]
    response = client.post(form_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:password_reset_complete")

    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert not user.check_password(DEFAULT_PASSWORD)
    event = AuditEvent.objects.get(event_type=EventType.USER_PASSWORD_RESET)
    assert event.actor_id == user.pk
    login = client.post(reverse("accounts:login"), {"email": "ada@example.com", "password": NEW_PASSWORD})
    assert login.status_code == 302


def test_a_reset_link_works_once(client, user, django_capture_on_commit_callbacks):
    request_reset(client, "ada@example.com", django_capture_on_commit_callbacks)
    path = link_path()
    response = client.get(path, follow=True)
    client.post(
        response.redirect_chain[-1][0], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )

    response = client.get(path, follow=True)

    assert response.context["validlink"] is False
    assert b"This password reset link is not valid any more" in response.content


def test_the_new_password_must_pass_the_validators(client, user, django_capture_on_commit_callbacks):
    request_reset(client, "ada@example.com", django_capture_on_commit_callbacks)
    response = client.get(link_path(), follow=True)

    response = client.post(response.redirect_chain[-1][0], {"new_password1": "123", "new_password2": "123"})

    assert response.status_code == 200
    assert "This password is too short." in str(response.context["form"].errors)
    assert not AuditEvent.objects.filter(event_type=EventType.USER_PASSWORD_RESET).exists()


def test_an_unknown_address_gets_the_same_page_and_no_email(client, db, django_capture_on_commit_callbacks):
    """Whether an account exists is not revealed by the reset form."""
    response = request_reset(client, "nobody@example.com", django_capture_on_commit_callbacks)

    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:password_reset_done")
    assert mail.outbox == []


def test_resetting_confirms_an_unconfirmed_address(client, django_capture_on_commit_callbacks):
    """The reset link reached the person at their address, which proves the address."""
    UserFactory(email="new@example.com", email_verified_at=None)
    request_reset(client, "new@example.com", django_capture_on_commit_callbacks)
    response = client.get(link_path(), follow=True)

    client.post(
        response.redirect_chain[-1][0], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )

    assert User.objects.get(email="new@example.com").email_verified
    verified = AuditEvent.objects.get(event_type=EventType.USER_EMAIL_VERIFIED)
    assert verified.data == {"via": "password_reset"}


def test_the_reset_pages_render(client, db):
    assert b"Reset your password" in client.get(reverse("accounts:password_reset")).content
    assert b"Check your email" in client.get(reverse("accounts:password_reset_done")).content
    assert b"Password changed" in client.get(reverse("accounts:password_reset_complete")).content


def test_reset_emails_go_out_at_most_once_a_minute(client, user, django_capture_on_commit_callbacks):
    for _ in range(3):
        request_reset(client, "ada@example.com", django_capture_on_commit_callbacks)

    assert len(mail.outbox) == 1

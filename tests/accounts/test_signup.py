"""Sign-up: an unverified account, a verification email sent after commit, clear errors."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.urls import reverse

from accounts.models import User
from audit.models import AuditEvent, EventType
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

SIGNUP = {
    "email": "Grace@Example.com",
    "full_name": "Grace Hopper",
    "password1": "a cobol compiler in 1959",
    "password2": "a cobol compiler in 1959",
}


def test_signup_creates_an_unverified_account_and_emails_a_link(client, django_capture_on_commit_callbacks):
    """The account starts unverified; the email is queued on commit and carries a confirmation link."""
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post(reverse("accounts:signup"), SIGNUP)

    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:signup_done")
    user = User.objects.get(email="grace@example.com")
    assert user.full_name == "Grace Hopper"
    assert not user.email_verified
    assert user.check_password(SIGNUP["password1"])
    assert len(callbacks) == 1
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["grace@example.com"]
    assert "Confirm your email address" in message.subject
    assert re.search(r"http://\S+/accounts/confirm-email/\S+/", message.body)
    assert message.alternatives  # an HTML version too
    event = AuditEvent.objects.get(event_type=EventType.USER_SIGNED_UP)
    assert event.actor_id == user.pk
    assert event.target_id == str(user.pk)


def test_signup_does_not_log_in_and_the_next_page_names_the_address(client):
    """Until the address is confirmed nobody is logged in; the page says where the link went."""
    client.post(reverse("accounts:signup"), SIGNUP)

    response = client.get(reverse("accounts:signup_done"))

    assert "_auth_user_id" not in client.session
    assert b"grace@example.com" in response.content
    assert b"Send a new link" in response.content


def test_the_email_waits_for_the_commit(client, django_capture_on_commit_callbacks):
    """The task is queued on commit, so a signup that rolls back never sends a link to a ghost."""
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        client.post(reverse("accounts:signup"), SIGNUP)

    assert len(callbacks) == 1
    assert mail.outbox == []


def test_taken_email_gets_a_specific_message_and_keeps_what_was_typed(client):
    """Case does not matter for the address; the form keeps email and name but never passwords."""
    UserFactory(email="grace@example.com")

    response = client.post(reverse("accounts:signup"), SIGNUP)

    assert response.status_code == 200
    content = response.content.decode()
    assert "An account with this email address already exists." in content
    assert 'href="/accounts/login/"' in content  # the message's links are not escaped
    assert 'value="Grace@Example.com"' in content
    assert 'value="Grace Hopper"' in content
    assert SIGNUP["password1"] not in content
    assert User.objects.count() == 1
    assert mail.outbox == []


@pytest.mark.parametrize(
    ("password1", "password2", "field", "message"),
    [
        ("a cobol compiler in 1959", "a cobol compiler in 1960", "password2", "The two passwords differ"),
        ("password", "password", "password1", "This password is too common."),
        ("84729301", "84729301", "password1", "This password is entirely numeric."),
        ("grace@example.com", "grace@example.com", "password1", "too similar"),
    ],
)
def test_passwords_must_match_and_pass_the_validators(client, password1, password2, field, message):
    """Django's password validators apply, including similarity to the email being signed up."""
    data = {**SIGNUP, "email": "grace@example.com", "password1": password1, "password2": password2}

    response = client.post(reverse("accounts:signup"), data)

    assert response.status_code == 200
    assert not User.objects.exists()
    errors = response.context["form"].errors[field]
    assert any(message in error for error in errors), errors


def test_a_logged_in_person_is_sent_to_the_account_page(client, user):
    client.force_login(user)

    response = client.get(reverse("accounts:signup"))

    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:account")

"""Email confirmation links: signed, time-limited, single-use in effect, and resendable."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from unittest import mock

import pytest
from django.core import mail, signing
from django.urls import reverse

from accounts.verification import SALT, verification_token_make
from audit.models import AuditEvent, EventType
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def unverified():
    return UserFactory(email="new@example.com", email_verified_at=None)


def link_for(user) -> str:
    return reverse("accounts:verify_email", args=[verification_token_make(user=user)])


def test_the_emailed_link_confirms_the_address_and_logs_in(client, django_capture_on_commit_callbacks):
    """End to end: sign up, open the link from the email, land logged in on the account page."""
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("accounts:signup"),
            {
                "email": "new@example.com",
                "full_name": "New Person",
                "password1": "a long enough passphrase",
                "password2": "a long enough passphrase",
            },
        )
    path = re.search(r"http://[^/]+(/accounts/confirm-email/\S+/)", mail.outbox[0].body).group(1)

    response = client.get(path)

    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:account")
    user = response.wsgi_request.user
    user.refresh_from_db()
    assert user.email_verified
    assert client.session["_auth_user_id"] == str(user.pk)
    event = AuditEvent.objects.get(event_type=EventType.USER_EMAIL_VERIFIED)
    assert event.actor_id == user.pk


def test_a_link_used_twice_says_so_and_does_not_log_in_again(client, unverified):
    """The second use answers that the address is already confirmed, without a new session."""
    path = link_for(unverified)
    client.get(path)
    client.logout()

    response = client.get(path)

    assert response.status_code == 200
    assert b"This link was already used" in response.content
    assert "_auth_user_id" not in client.session
    assert AuditEvent.objects.filter(event_type=EventType.USER_EMAIL_VERIFIED).count() == 1


def test_an_expired_link_says_so_and_offers_a_new_one(client, unverified, settings):
    """A genuine link older than EMAIL_VERIFICATION_MAX_AGE is refused as expired."""
    settings.EMAIL_VERIFICATION_MAX_AGE = timedelta(days=3)
    four_days_ago = time.time() - 4 * 24 * 3600
    with mock.patch("django.core.signing.time.time", return_value=four_days_ago):
        path = link_for(unverified)

    response = client.get(path)

    assert response.status_code == 400
    assert b"This confirmation link has expired" in response.content
    assert b"Send a new link" in response.content
    unverified.refresh_from_db()
    assert not unverified.email_verified
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda token: token[:-2] + ("AA" if not token.endswith("AA") else "BB"), id="signature"),
        pytest.param(lambda token: token[:20], id="cut-off"),
        pytest.param(
            lambda token: signing.TimestampSigner(salt="another.purpose").sign_object({"user": 1}),
            id="other-salt",
        ),
    ],
)
def test_a_tampered_link_says_it_is_not_valid(client, unverified, mangle):
    token = mangle(verification_token_make(user=unverified))

    response = client.get(reverse("accounts:verify_email", args=[token]))

    assert response.status_code == 400
    assert b"This confirmation link is not valid" in response.content
    assert b"Send a new link" in response.content
    unverified.refresh_from_db()
    assert not unverified.email_verified


def test_a_link_only_works_for_the_address_it_was_sent_to(client, unverified):
    """The signed value names the address: after the address changes, the old link is void."""
    path = link_for(unverified)
    unverified.email = "changed@example.com"
    unverified.save()

    response = client.get(path)

    assert response.status_code == 400
    unverified.refresh_from_db()
    assert not unverified.email_verified


def test_the_signature_is_specific_to_email_verification(unverified):
    """A value signed for any other purpose (another salt) cannot be replayed as a link."""
    token = verification_token_make(user=unverified)
    with pytest.raises(signing.BadSignature):
        signing.TimestampSigner().unsign_object(token)
    assert signing.TimestampSigner(salt=SALT).unsign_object(token)["user"] == unverified.pk


def test_resending_queues_a_fresh_link_for_an_unverified_account(
    client, unverified, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("accounts:resend_verification"), {"email": "NEW@example.com"})

    assert response.status_code == 302
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["new@example.com"]


@pytest.mark.parametrize("email", ["nobody@example.com", "ada@example.com"])
def test_resending_tells_nothing_about_other_addresses(client, email, django_capture_on_commit_callbacks):
    """Unknown and already-confirmed addresses get the same answer and no email."""
    UserFactory(email="ada@example.com")

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("accounts:resend_verification"), {"email": email}, follow=True)

    assert mail.outbox == []
    assert f"If {email} belongs to an account waiting for confirmation".encode() in response.content


def test_the_task_sends_nothing_once_the_address_is_confirmed(unverified):
    """A queued email that runs after the person confirmed (e.g. through a newer link) is dropped."""
    from accounts.tasks import send_verification_email

    unverified.email_verified_at = unverified.date_joined
    unverified.save()

    send_verification_email(user_id=unverified.pk)

    assert mail.outbox == []


def test_resending_at_most_once_a_minute(client, unverified, django_capture_on_commit_callbacks):
    """The resend form answers anyone, so it must not be usable to flood a mailbox."""
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(3):
            client.post(reverse("accounts:resend_verification"), {"email": "new@example.com"})

    assert len(mail.outbox) == 1


def test_the_signup_email_starts_the_resend_cooldown(client, django_capture_on_commit_callbacks):
    data = {
        "email": "new@example.com",
        "full_name": "New Person",
        "password1": "a long enough passphrase",
        "password2": "a long enough passphrase",
    }
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("accounts:signup"), data)
        client.post(reverse("accounts:resend_verification"), {"email": "new@example.com"})

    assert len(mail.outbox) == 1


def test_resending_with_a_malformed_address_marks_the_field(client, db):
    response = client.post(reverse("accounts:resend_verification"), {"email": "not-an-address"})

    assert response.status_code == 400
    assert "Enter a valid email address." in response.content.decode()
    assert 'value="not-an-address"' in response.content.decode()

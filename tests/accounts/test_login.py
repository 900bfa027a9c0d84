"""Login by email and password, throttled per account and per address; logout by POST only."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts import throttling
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

LOGIN = reverse("accounts:login")


@pytest.fixture(autouse=True)
def _five_attempts_in_fifteen_minutes(settings):
    settings.LOGIN_THROTTLE_ATTEMPTS = 5
    settings.LOGIN_THROTTLE_WINDOW = timedelta(minutes=15)


def log_in(client, email, password=DEFAULT_PASSWORD, address="192.0.2.1", **extra):
    return client.post(LOGIN, {"email": email, "password": password, **extra}, REMOTE_ADDR=address)


def test_the_right_password_logs_in_and_goes_to_the_account_page(client, user):
    response = log_in(client, "ADA@example.com")

    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:account")
    assert client.session["_auth_user_id"] == str(user.pk)


def test_a_wrong_password_is_refused_and_the_email_is_kept(client, user):
    response = log_in(client, "ada@example.com", "not the password")

    assert response.status_code == 200
    content = response.content.decode()
    assert "That email and password do not match an account." in content
    assert 'value="ada@example.com"' in content
    assert "not the password" not in content
    assert "_auth_user_id" not in client.session


def test_an_unverified_account_is_told_to_confirm_its_email_with_a_resend_form(client):
    """The password is right but the address unconfirmed: no session, and a prefilled resend form."""
    UserFactory(email="new@example.com", email_verified_at=None)

    response = log_in(client, "new@example.com")

    assert response.status_code == 200
    content = response.content.decode()
    assert "Confirm your email address first" in content
    assert reverse("accounts:resend_verification") in content
    assert response.context["resend_form"].initial == {"email": "new@example.com"}
    assert "_auth_user_id" not in client.session


def test_a_disabled_account_cannot_log_in(client):
    UserFactory(email="gone@example.com", is_active=False)

    response = log_in(client, "gone@example.com")

    assert "That email and password do not match an account." in response.content.decode()
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize(
    ("next_url", "expected"),
    [
        ("/publishers/", "/publishers/"),
        ("https://evil.example.com/phish", "/accounts/"),
        ("//evil.example.com/", "/accounts/"),
        ("javascript:alert(1)", "/accounts/"),
    ],
)
def test_next_only_redirects_within_this_site(client, user, next_url, expected):
    response = log_in(client, "ada@example.com", next=next_url)

    assert response.status_code == 302
    assert response["Location"] == expected


def test_the_login_page_carries_next_through_the_form(client):
    response = client.get(LOGIN, {"next": "/publishers/"})

    assert 'name="next" value="/publishers/"' in response.content.decode()


def test_an_account_is_throttled_after_too_many_failures_even_with_the_right_password(client, user):
    """Failures from many addresses add up per account; then the right password is refused too."""
    for attempt in range(5):
        log_in(client, "ada@example.com", "wrong", address=f"198.51.100.{attempt}")

    response = log_in(client, "ada@example.com", address="203.0.113.9")

    assert response.status_code == 429
    assert "Too many failed login attempts. Try again in 15 minutes" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_an_address_is_throttled_after_too_many_failures_across_accounts(client, user):
    """Guessing passwords of many accounts from one address is stopped for every account."""
    for n in range(5):
        log_in(client, f"someone{n}@example.com", "wrong", address="192.0.2.50")

    response = log_in(client, "ada@example.com", address="192.0.2.50")

    assert response.status_code == 429
    assert "Too many failed login attempts" in response.content.decode()
    # The same account from another address is not affected.
    assert log_in(client, "ada@example.com", address="192.0.2.51").status_code == 302


def test_attempts_below_the_limit_still_log_in(client, user):
    for _ in range(4):
        log_in(client, "ada@example.com", "wrong")

    assert log_in(client, "ada@example.com").status_code == 302


def test_a_successful_login_clears_the_account_counter(client, user):
    """After a success, the account gets its full allowance again (from another address)."""
    for _ in range(4):
        log_in(client, "ada@example.com", "wrong", address="198.51.100.1")
    assert log_in(client, "ada@example.com", address="198.51.100.2").status_code == 302
    client.logout()

    for _ in range(4):
        log_in(client, "ada@example.com", "wrong", address="198.51.100.3")

    assert log_in(client, "ada@example.com", address="198.51.100.4").status_code == 302


def test_the_refusal_says_when_the_window_opened_by_the_first_failure_ends(user):
    for _ in range(5):
        throttling.login_failure_record(email="ada@example.com", address="192.0.2.1")

    retry_at = throttling.login_throttle_retry_at(email="ada@example.com", address="192.0.2.9")

    assert retry_at is not None
    assert timezone.now() + timedelta(minutes=14) < retry_at <= timezone.now() + timedelta(minutes=15)
    message = throttling.retry_message(retry_at)
    assert message == f"Too many failed login attempts. Try again in 15 minutes (after {retry_at:%H:%M} UTC)."


def test_the_throttle_lifts_when_the_window_has_passed(settings, client, user):
    """The counters live one window in the cache (Redis expires them), then the count starts over."""
    settings.LOGIN_THROTTLE_WINDOW = timedelta(seconds=1)
    for _ in range(5):
        log_in(client, "ada@example.com", "wrong")
    assert log_in(client, "ada@example.com").status_code == 429

    time.sleep(1.2)

    assert log_in(client, "ada@example.com").status_code == 302


def test_logout_refuses_get(client, user):
    """A link or an image must not be able to log anyone out."""
    client.force_login(user)

    response = client.get(reverse("accounts:logout"))

    assert response.status_code == 405
    assert client.session["_auth_user_id"] == str(user.pk)


def test_logout_by_post_ends_the_session(client, user):
    client.force_login(user)

    response = client.post(reverse("accounts:logout"))

    assert response.status_code == 302
    assert response["Location"] == reverse("home")
    assert "_auth_user_id" not in client.session

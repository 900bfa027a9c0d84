"""A stranger becomes a publisher, in a real browser: sign up, confirm the address from the email,
log in, and go through onboarding to the dashboard."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from accounts.models import User
from audit.models import AuditEvent, EventType
from publishers.models import Publisher, Role
from tests.browser.test_onboarding_journey import logo_file

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

EMAIL = "joanna@chotchkies.example.com"
PASSWORD = "flair-pieces-37-and-counting"


def _emailed_path(body: str) -> str:
    """The path of the link in an email; the email names SITE_URL, the browser the live server."""
    match = re.search(r"https?://\S+/accounts/confirm-email/\S+/", body)
    assert match, body
    return urlsplit(match.group(0)).path


def _log_in(page: Any, password: str) -> None:
    page.fill("input[name=email]", EMAIL)
    page.fill("input[name=password]", password)
    page.locator("main form button[type=submit]").first.click()


def test_sign_up_confirm_log_in_and_onboard(
    page: Any, live_server: Any, tmp_path: Path, mailoutbox: list
) -> None:
    # Sign up from the header's link.
    page.goto("/")
    page.click("header >> text=Sign up")
    page.wait_for_url(re.compile(r"/accounts/signup/$"))
    page.fill("input[name=email]", EMAIL)
    page.fill("input[name=full_name]", "Joanna Chotchkie")
    page.fill("input[name=password1]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_url(re.compile(r"/accounts/signup/check-email/$"))
    assert EMAIL in page.locator("main").inner_text()
    assert "Log in" in page.locator("header").inner_text(), "signing up does not log in"

    # Before the address is confirmed, the right password is not enough.
    page.goto("/accounts/login/")
    _log_in(page, PASSWORD)
    page.wait_for_selector("text=Confirm your email address first")
    assert User.objects.get(email=EMAIL).email_verified_at is None

    # The emailed link confirms the address and logs in.
    [email] = mailoutbox
    assert email.to == [EMAIL]
    page.goto(_emailed_path(email.body))
    page.wait_for_url(re.compile(r"/accounts/$"))
    assert "Your email address is confirmed" in page.locator("main").inner_text()
    assert EMAIL in page.locator("header").inner_text()

    # Log out, then ask for the onboarding form: the login page sends us there afterwards.
    page.click("header >> text=Log out")
    page.wait_for_url(re.compile(r"/$"))
    assert "Log in" in page.locator("header").inner_text()
    page.goto("/publishers/new/")
    page.wait_for_url(re.compile(r"/accounts/login/\?next=/publishers/new/$"))
    _log_in(page, "not-the-password")
    page.wait_for_selector("text=That email and password do not match an account")
    assert page.input_value("input[name=email]") == EMAIL, "the address typed is kept"
    _log_in(page, PASSWORD)
    page.wait_for_url(re.compile(r"/publishers/new/$"))

    # Onboarding: the profile, then support and SLA left empty for now, then finish without invites.
    page.fill("input[name=namespace]", "chotchkies")
    page.fill("input[name=legal_name]", "Chotchkie's Restaurants Inc.")
    page.fill("input[name=website]", "chotchkies.example.com")  # typed without a scheme
    page.fill("input[name=phone]", "+1 512 555 0199")
    page.fill("input[name=company_email]", "hello@chotchkies.example.com")
    page.set_input_files("input[name=logo]", str(logo_file(tmp_path)))
    page.click("text=Create publisher and continue")
    page.wait_for_url(re.compile(r"/publishers/chotchkies/onboarding/support/$"))
    page.click("text=Save and continue")
    page.wait_for_url(re.compile(r"/publishers/chotchkies/onboarding/members/$"))
    page.click("button[value=finish]")
    page.wait_for_url(re.compile(r"/publishers/chotchkies/$"))
    assert page.locator("h1").inner_text() == "Chotchkie's Restaurants Inc."
    assert "Onboarding completed" in page.locator("main").inner_text()
    page.screenshot(path="/tmp/publisher-signup-dashboard.png", full_page=True)

    user = User.objects.get(email=EMAIL)
    assert user.email_verified_at is not None
    assert user.check_password(PASSWORD)
    publisher = Publisher.objects.get(namespace="chotchkies")
    assert publisher.website == "https://chotchkies.example.com"
    assert publisher.onboarding_completed_at is not None
    assert publisher.memberships.get(user=user).role == Role.OWNER
    assert list(
        AuditEvent.objects.filter(actor=user).order_by("id").values_list("event_type", flat=True)
    ) == [
        EventType.USER_SIGNED_UP,
        EventType.USER_EMAIL_VERIFIED,
        EventType.PUBLISHER_CREATED,
        EventType.PUBLISHER_ONBOARDED,
    ]
    assert len(mailoutbox) == 1, "no invitations were sent"

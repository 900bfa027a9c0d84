"""A new publisher's first visit, in a real browser: log in, three onboarding steps, dashboard."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from PIL import Image, ImageDraw

from audit.models import AuditEvent, EventType
from publishers.models import Invitation, Publisher, Role
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOT = Path("/tmp/publisher-dashboard.png")


def logo_file(folder: Path) -> Path:
    image = Image.new("RGB", (600, 600), "#0b63ce")
    ImageDraw.Draw(image).ellipse((100, 100, 500, 500), fill="white")
    path = folder / "initech-logo.png"
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    path.write_bytes(buffer.getvalue())
    return path


def test_a_verified_user_onboards_a_publisher(
    page: Any, live_server: Any, tmp_path: Path, mailoutbox: list
) -> None:
    user = UserFactory(email="founder@initech.example.com", full_name="Bill Lumbergh")

    # Start where the home page's "Become a publisher" points; the login page sends us back.
    page.goto("/publishers/new/")
    assert "/accounts/login/" in page.url
    page.fill("input[name=email]", user.email)
    page.fill("input[name=password]", DEFAULT_PASSWORD)
    page.locator("main form button[type=submit]").first.click()
    page.wait_for_url(re.compile(r"/publishers/new/$"))
    assert page.locator("[aria-current=step]").inner_text().strip().startswith("Step 1 of 3")

    # Step 1: company profile, with a real logo file.
    page.fill("input[name=namespace]", "initech")
    page.fill("input[name=legal_name]", "Initech LLC")
    page.fill("input[name=website]", "https://initech.example.com")
    page.fill("input[name=phone]", "+1 415 555 0132")
    page.fill("input[name=company_email]", "hello@initech.example.com")
    page.set_input_files("input[name=logo]", str(logo_file(tmp_path)))
    page.fill("textarea[name=story]", "We make TPS report containers.")
    page.click("text=Create publisher and continue")
    page.wait_for_url(re.compile(r"/publishers/initech/onboarding/support/$"))
    assert "Step 2 of 3" in page.locator("[aria-current=step]").inner_text()

    # Step 2: support and SLA.
    page.fill("input[name=support_website]", "https://support.initech.example.com")
    page.fill("input[name=support_email]", "help@initech.example.com")
    page.fill(
        "textarea[name=self_help_links]",
        "https://docs.initech.example.com\nhttps://status.initech.example.com",
    )
    page.fill("input[name=support_hours]", "Monday to Friday, 09:00-17:00 CT")
    page.fill("textarea[name=response_times]", "Critical: 4 hours. Others: 1 business day.")
    page.click("text=Save and continue")
    page.wait_for_url(re.compile(r"/publishers/initech/onboarding/members/$"))

    # Step 3: invite one member, then finish.
    page.fill("input[name=form-0-email]", "peter@initech.example.com")
    page.select_option("select[name=form-0-role]", "admin")
    page.click("button[value=finish]")
    page.wait_for_url(re.compile(r"/publishers/initech/$"))

    assert page.locator("h1").inner_text() == "Initech LLC"
    body = page.locator("main").inner_text()
    assert "peter@initech.example.com" in body
    assert "Onboarding completed" in body
    assert page.locator("img.logo").evaluate("img => img.naturalWidth") == 600  # the logo is served
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    page.click("text=Manage members")
    page.wait_for_url(re.compile(r"/publishers/initech/members/$"))
    assert page.locator("table select[name=role]").count() == 1  # the owner's own row
    assert "peter@initech.example.com" in page.locator("main").inner_text()
    page.screenshot(path="/tmp/publisher-members.png", full_page=True)

    publisher = Publisher.objects.get(namespace="initech")
    assert publisher.onboarding_completed_at is not None
    assert publisher.phone == "+14155550132"
    assert publisher.self_help_link_list == [
        "https://docs.initech.example.com",
        "https://status.initech.example.com",
    ]
    assert Path(settings.MEDIA_ROOT, publisher.logo.name).exists()
    membership = publisher.memberships.get()
    assert (membership.user, membership.role) == (user, Role.OWNER)
    invitation = Invitation.objects.get(publisher=publisher)
    assert (invitation.email, invitation.role, invitation.invited_by) == (
        "peter@initech.example.com",
        "admin",
        user,
    )
    [email] = mailoutbox
    assert email.to == ["peter@initech.example.com"]
    assert "/publishers/invitations/" in email.body
    assert list(
        AuditEvent.objects.filter(publisher=publisher).order_by("id").values_list("event_type", flat=True)
    ) == [
        EventType.PUBLISHER_CREATED,
        EventType.PUBLISHER_PROFILE_CHANGED,
        EventType.MEMBER_INVITED,
        EventType.PUBLISHER_ONBOARDED,
    ]


def test_a_bad_logo_is_explained_and_the_typing_kept(page: Any, live_server: Any, tmp_path: Path) -> None:
    user = UserFactory(email="founder@initech.example.com")
    page.goto("/accounts/login/?next=/publishers/new/")
    page.fill("input[name=email]", user.email)
    page.fill("input[name=password]", DEFAULT_PASSWORD)
    page.locator("main form button[type=submit]").first.click()
    page.wait_for_url(re.compile(r"/publishers/new/$"))

    wide = tmp_path / "wide.png"
    Image.new("RGB", (800, 600), "#b42318").save(wide)
    page.fill("input[name=namespace]", "initech")
    page.fill("input[name=legal_name]", "Initech LLC")
    page.fill("input[name=website]", "https://initech.example.com")
    page.fill("input[name=phone]", "+1 415 555 0132")
    page.fill("input[name=company_email]", "hello@initech.example.com")
    page.set_input_files("input[name=logo]", str(wide))
    page.click("text=Create publisher and continue")

    page.wait_for_selector(".errorlist")
    assert "The image must be square; this one is 800x600 pixels." in page.locator(".errorlist").inner_text()
    assert "choose the logo file again" in page.locator("[role=alert]").inner_text()
    assert page.input_value("input[name=legal_name]") == "Initech LLC"
    assert page.input_value("input[name=phone]") == "+1 415 555 0132"
    page.screenshot(path="/tmp/publisher-onboarding-error.png", full_page=True)
    assert not Publisher.objects.filter(namespace="initech").exists()

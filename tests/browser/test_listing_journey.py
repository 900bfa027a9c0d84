"""A listing's whole review round trip in a real browser.

The publisher's editor creates a product with every manifest item and two tiers (one free, one
paid) and submits it; a moderator asks for changes in Django admin; the editor reads the comment,
fixes the listing and submits again; the moderator approves; an anonymous visitor finds the
product with the search page and opens it. Screenshots of the key steps go to
``<tmp>/listing-journey/`` for a human to look at.
"""

from __future__ import annotations

import io
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw

from audit.models import AuditEvent, EventType
from listings.models import Category, Product, ProductStatus, RevisionState
from publishers.models import Role
from tests.factories import DEFAULT_PASSWORD, MembershipFactory, PublisherFactory, UserFactory
from tests.listings.helpers import enable_payouts, make_moderator

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path(tempfile.gettempdir()) / "listing-journey"
REQUESTED = "Please say which PostgreSQL versions the Pro tier supports."


def _image(path: Path, size: tuple[int, int], colour: str, label: str) -> Path:
    image = Image.new("RGB", size, colour)
    draw = ImageDraw.Draw(image)
    draw.rectangle((size[0] // 8, size[1] // 8, size[0] * 7 // 8, size[1] * 7 // 8), outline="white", width=8)
    draw.text((size[0] // 4, size[1] // 2), label, fill="white")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    path.write_bytes(buffer.getvalue())
    return path


def _shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _log_in(page: Any, url: str, email: str, *, field: str = "email") -> None:
    page.fill(f"input[name={field}]", email)
    page.fill("input[name=password]", DEFAULT_PASSWORD)
    page.locator("form [type=submit]").last.click()
    page.wait_for_url(re.compile(re.escape(url) + "$"))


def _fill_manifest(page: Any, folder: Path) -> None:
    page.fill("input[name=name]", "Tidewater Postgres")
    page.set_input_files("input[name=logo]", str(_image(folder / "logo.png", (512, 512), "#0b63ce", "TP")))
    page.fill(
        "input[name=short_description]", "PostgreSQL 16 with point-in-time recovery, tuned for containers."
    )
    page.select_option("select[name=category]", label="Databases")
    page.fill("input[name=tags]", "sql, database, backups")
    page.fill(
        "textarea[name=long_description]",
        "# Tidewater Postgres\n\nStreaming replication, **nightly backups** and a metrics endpoint.",
    )
    page.fill("input[name=support_url]", "https://tidewater.example.com/support")
    page.fill(
        "textarea[name=installation_instructions]",
        "Start it with `docker run -e POSTGRES_PASSWORD=… tidewater/postgres`.",
    )
    page.fill("input[name=licence_url]", "https://tidewater.example.com/licence")
    page.select_option("select[name=distribution]", "paid")
    page.select_option("select[name=access_policy]", "everyone")
    page.select_option("select[name=kind]", "container")
    page.select_option("select[name=engine_compatibility]", "certified")


def _fill_tier(page: Any, index: int, **values: str) -> None:
    prefix = f"tiers-{index}-"
    for name in ("name", "description", "price", "trial_days", "staging_source"):
        if name in values:
            page.fill(f"[name={prefix}{name}]", values[name])
    for name in ("currency", "billing"):
        if name in values:
            page.select_option(f"select[name={prefix}{name}]", values[name])
    if "licence_required" in values:
        page.set_checked(f"input[name={prefix}licence_required]", values["licence_required"] == "on")


def _submit(page: Any, message: str) -> None:
    """Submit from the product page; a refusal fails the test with the items it lists."""
    page.fill("textarea[name=message]", message)
    page.click("#submit-for-review")
    page.wait_for_selector(".messages .success, #submit-errors")
    assert not page.locator("#submit-errors").count(), page.locator("#submit-errors").inner_text()
    assert page.locator("#revision-state").inner_text() == "In review"


def _moderate(page: Any, decision: str, message: str) -> None:
    """From the admin review queue, open the waiting revision and send ``decision``."""
    page.goto("/admin/listings/revision/")
    row = page.locator("#result_list tbody tr", has_text="Tidewater Postgres")
    row.locator("a").first.click()
    page.wait_for_selector("#decision-form")
    page.check(f"input[name=decision][value={decision}]")
    page.fill("textarea[name=message]", message)
    _shot(page, f"3-admin-review-{decision}")
    page.click("#send-decision")
    page.wait_for_selector(".messagelist .success")


def test_a_listing_goes_from_draft_through_review_to_the_catalog(
    page: Any, browser: Any, live_server: Any, tmp_path: Path, mailoutbox: list
) -> None:
    # Transactional tests flush every table afterwards, seeded categories included.
    Category.objects.get_or_create(slug="databases", defaults={"name": "Databases"})
    publisher = PublisherFactory(namespace="tidewater", legal_name="Tidewater Data Ltd")
    enable_payouts(publisher)  # the paid tier can go live only with payouts set up
    editor = UserFactory(email="ed@tidewater.example.com", full_name="Ed Itor")
    MembershipFactory(publisher=publisher, user=editor, role=Role.EDITOR)
    moderator = make_moderator()
    products = f"/publishers/{publisher.namespace}/products/"
    manage = f"{products}postgres/"

    # The editor logs in through the login page and starts a product.
    page.goto(f"/accounts/login/?next={products}")
    _log_in(page, products, editor.email)
    page.click("text=New product")
    page.fill("input[name=name]", "Tidewater Postgres")
    page.fill("input[name=slug]", "postgres")
    page.click("text=Create the product")
    page.wait_for_url(re.compile(r"/products/postgres/edit/$"))

    # Every manifest item, then two tiers: the free one in the formset's blank form, a paid one added.
    _fill_manifest(page, tmp_path)
    _fill_tier(
        page,
        0,
        name="Community",
        description="Single node, community support.",
        price="0",
        trial_days="0",
        staging_source="tidewater/postgres-staging:16.2",
        licence_required="off",
    )
    page.click("#add-tier")
    page.wait_for_selector("[name=tiers-1-name]")
    _fill_tier(
        page,
        1,
        name="Pro",
        description="Replicas, backups and a 4-hour support SLA.",
        price="49.00",
        currency="USD",
        billing="monthly",
        trial_days="14",
        staging_source="tidewater/postgres-pro-staging:16.2",
        licence_required="on",
    )
    _shot(page, "1-publisher-edit")
    page.click("#save-draft")
    page.wait_for_url(re.compile(re.escape(manage) + "$"))
    assert page.locator("#revision-state").inner_text() == "Draft"
    assert "Add at least one screenshot." in page.locator("main").inner_text()

    # A screenshot, then submission.
    page.goto(f"{manage}screenshots/")
    page.set_input_files(
        "input[name=image]", str(_image(tmp_path / "shot.png", (1280, 800), "#0f1b2d", "Dashboard"))
    )
    page.fill("input[name=caption]", "The metrics dashboard")
    page.click("text=Upload")
    page.wait_for_selector("main ol img")
    page.goto(manage)
    _submit(page, "First release, please have a look.")
    _shot(page, "2-publisher-submitted")

    product = Product.objects.get(publisher=publisher, slug="postgres")
    revision = product.revisions.get()
    assert revision.state == RevisionState.IN_REVIEW
    assert [(t.name, t.price, t.trial_days) for t in revision.tiers.order_by("position")] == [
        ("Community", 0, 0),
        ("Pro", 49, 14),
    ]
    assert revision.screenshots.count() == 1

    # The moderator logs in to admin in a browser of their own and asks for changes.
    moderator_context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    moderator_context.set_default_timeout(15_000)
    admin = moderator_context.new_page()
    admin.goto("/admin/")
    _log_in(admin, "/admin/", moderator.email, field="username")
    admin.click("a[href='/admin/listings/revision/']")
    admin.wait_for_selector("#result_list")
    assert "Tidewater Postgres" in admin.locator("#result_list").inner_text()
    _shot(admin, "3-admin-queue")
    _moderate(admin, "request_changes", REQUESTED)
    revision.refresh_from_db()
    assert revision.state == RevisionState.CHANGES_REQUESTED
    [email] = mailoutbox
    assert email.to == [editor.email]
    assert REQUESTED in email.body
    assert "/publishers/tidewater/products/postgres/" in email.body

    # The editor reads the comment, fixes the listing and resubmits.
    page.goto(manage)
    assert page.locator("#revision-state").inner_text() == "Changes requested"
    assert REQUESTED in page.locator(".thread").inner_text()
    _shot(page, "4-publisher-changes-requested")
    page.goto(f"{manage}edit/")
    page.fill(
        "[name=tiers-1-description]", "Replicas, backups and a 4-hour support SLA. PostgreSQL 15 and 16."
    )
    page.click("#save-draft")
    page.wait_for_url(re.compile(re.escape(manage) + "$"))
    _submit(page, "The Pro tier now names the versions.")

    # The moderator approves.
    _moderate(admin, "approve", "Thanks, approved.")
    moderator_context.close()
    product.refresh_from_db()
    revision.refresh_from_db()
    assert (product.status, product.live_revision_id) == (ProductStatus.PUBLISHED, revision.pk)
    assert revision.state == RevisionState.APPROVED
    assert product.revisions.count() == 1  # changes went into the same revision
    assert len(mailoutbox) == 2
    assert mailoutbox[1].to == [editor.email] and "Thanks, approved." in mailoutbox[1].body

    # An anonymous visitor finds it by search and opens its page.
    visitor = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    visitor.set_default_timeout(15_000)
    anonymous = visitor.new_page()
    anonymous.goto("/search/")
    anonymous.fill("input[name=q]", "tidewater postgres")
    anonymous.click("form[role=search] button[type=submit]")
    anonymous.wait_for_selector(".product-card")
    assert "1 result" in anonymous.locator("#result-count").inner_text()
    _shot(anonymous, "5-visitor-search")
    anonymous.click(".product-card h3 a")
    anonymous.wait_for_url(re.compile(r"/products/tidewater/postgres/$"))
    assert anonymous.locator("article.product header h1").inner_text() == "Tidewater Postgres"
    body = anonymous.locator("main").inner_text()
    assert "PostgreSQL 15 and 16" in body
    assert "49.00 USD / month" in body and "14-day free trial" in body
    assert "docker pull" in body and "tidewater/postgres-pro" in body
    assert anonymous.locator("img.logo").evaluate("img => img.naturalWidth") == 512
    _shot(anonymous, "6-visitor-product")
    visitor.close()

    events = list(
        AuditEvent.objects.filter(publisher=publisher).order_by("id").values_list("event_type", flat=True)
    )
    assert events[0] == EventType.LISTING_CREATED
    decisions = [
        e
        for e in events
        if e in (EventType.LISTING_SUBMITTED, EventType.LISTING_CHANGES_REQUESTED, EventType.LISTING_APPROVED)
    ]
    assert decisions == [
        EventType.LISTING_SUBMITTED,
        EventType.LISTING_CHANGES_REQUESTED,
        EventType.LISTING_SUBMITTED,
        EventType.LISTING_APPROVED,
    ]
    actors = dict(
        AuditEvent.objects.filter(
            publisher=publisher,
            event_type__in=[EventType.LISTING_CHANGES_REQUESTED, EventType.LISTING_APPROVED],
        ).values_list("event_type", "actor_id")
    )
    assert set(actors.values()) == {moderator.pk}

"""Services: every transition through the real writes, the refused ones, audit and email."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core import mail
from django.core.exceptions import ValidationError

from audit.models import AuditEvent, EventType
from listings import services, workflow
from listings.models import (
    CommentKind,
    Notification,
    Product,
    ProductStatus,
    ReviewComment,
    Revision,
    RevisionState,
    Subscription,
    Tier,
)
from tests.factories import UserFactory
from tests.images import upload
from tests.listings.helpers import complete_product, make_moderator, manifest, published, submitted, tier_data

pytestmark = pytest.mark.django_db(transaction=False)


def events(event_type):
    return AuditEvent.objects.filter(event_type=event_type)


def test_create_makes_a_never_published_product_with_a_draft(personas):
    product = services.product_create(actor=personas.member, publisher=personas.acme, name="Acme Redis")
    assert product.slug == "acme-redis"
    assert product.status == ProductStatus.DRAFT
    assert product.revisions.get().state == RevisionState.DRAFT
    assert events(EventType.LISTING_CREATED).get().publisher_id == personas.acme.pk


def test_slug_clash_gets_a_specific_message(personas):
    services.product_create(actor=personas.member, publisher=personas.acme, name="Redis", slug="redis")
    with pytest.raises(ValidationError) as excinfo:
        services.product_create(actor=personas.member, publisher=personas.acme, name="Redis 2", slug="redis")
    assert excinfo.value.message_dict == {"slug": ["You already have a product at “redis”."]}


def test_a_draft_may_be_incomplete(personas):
    product = services.product_create(actor=personas.member, publisher=personas.acme, name="Half done")
    revision = services.revision_save(actor=personas.member, product=product, changes={"tags": "a, b"})
    assert revision.tags == "a, b"
    assert revision.state == RevisionState.DRAFT


def test_submit_lists_every_missing_item_at_once(personas):
    product = services.product_create(actor=personas.member, publisher=personas.acme, name="Bare")
    with pytest.raises(ValidationError) as excinfo:
        services.revision_submit(actor=personas.member, product=product)
    messages = excinfo.value.messages
    assert messages[0] == "Complete these before submitting:"
    for expected in [
        "Add a product logo.",
        "Add a short description.",
        "Add a category.",
        "Add a long description.",
        "Add a support link.",
        "Add installation instructions.",
        "Add a link to the licence agreement.",
        "Add where the content runs (engine compatibility).",
        "Add at least one screenshot.",
        "Add at least one tier.",
    ]:
        assert expected in messages
    assert product.revisions.get().state == RevisionState.DRAFT


def test_content_that_does_not_run_on_certified_infrastructure_cannot_be_submitted(personas):
    product = complete_product(personas.acme, personas.member, engine_compatibility="unsupported")
    with pytest.raises(ValidationError) as excinfo:
        services.revision_submit(actor=personas.member, product=product)
    assert (
        "Content that does not work on Certified Infrastructure cannot be published on the store."
        in excinfo.value.messages
    )


def test_community_content_is_published_but_not_eligible_for_certification(personas, moderator):
    product = published(personas.acme, personas.member, moderator, engine_compatibility="community")
    assert product.status == ProductStatus.PUBLISHED
    assert not product.live_revision.is_certification_eligible


def test_free_product_with_a_priced_tier_is_refused_on_submit(personas):
    product = complete_product(personas.acme, personas.member, distribution="free", tiers=1)
    tier = product.revisions.get().tiers.get()
    services.tier_update(actor=personas.member, product=product, key=tier.key, data={"price": Decimal("10")})
    with pytest.raises(ValidationError) as excinfo:
        services.revision_submit(actor=personas.member, product=product)
    assert any("a free product cannot have a price" in m for m in excinfo.value.messages)


def test_submit_moves_the_draft_to_review_and_audits(personas):
    revision = submitted(personas.acme, personas.member)
    assert revision.state == RevisionState.IN_REVIEW
    assert revision.submitted_by == personas.member
    assert events(EventType.LISTING_SUBMITTED).count() == 1
    assert ReviewComment.objects.filter(kind=CommentKind.SUBMITTED).count() == 1


def test_editing_while_in_review_is_refused_and_nothing_changes(personas):
    revision = submitted(personas.acme, personas.member)
    with pytest.raises(workflow.InvalidTransition) as excinfo:
        services.revision_save(actor=personas.member, product=revision.product, changes={"name": "Renamed"})
    assert "in review and cannot be edited" in excinfo.value.messages[0]
    revision.refresh_from_db()
    assert revision.name == "Acme Postgres"
    assert events(EventType.LISTING_DRAFT_SAVED).count() == 2  # manifest and screenshot, before submitting


def test_submitting_twice_is_refused(personas):
    revision = submitted(personas.acme, personas.member)
    with pytest.raises(workflow.InvalidTransition):
        services.revision_submit(actor=personas.member, product=revision.product)


def test_approve_publishes_and_emails_the_publisher(personas, moderator, django_capture_on_commit_callbacks):
    revision = submitted(personas.acme, personas.member)
    with django_capture_on_commit_callbacks(execute=True):
        services.revision_approve(actor=moderator, revision=revision, message="Looks great.")
    product = Product.objects.get(pk=revision.product_id)
    assert product.status == ProductStatus.PUBLISHED
    assert product.live_revision_id == revision.pk
    assert product.name == "Acme Postgres"
    assert product.category.slug == "databases"
    assert product.first_published_at is not None
    assert all(t.repository_locked for t in Tier.objects.filter(revision=revision))
    assert events(EventType.LISTING_APPROVED).get().actor_id == moderator.pk
    assert len(mail.outbox) == 1
    assert sorted(mail.outbox[0].to) == ["editor@acme.example.com", "owner@acme.example.com"]
    assert "Looks great." in mail.outbox[0].body


def test_approving_a_draft_is_refused(personas, moderator):
    product = complete_product(personas.acme, personas.member)
    with pytest.raises(workflow.InvalidTransition) as excinfo:
        services.revision_approve(actor=moderator, revision=product.revisions.get())
    assert "cannot approve a revision that is draft" in excinfo.value.messages[0]
    product.refresh_from_db()
    assert product.status == ProductStatus.DRAFT
    assert not events(EventType.LISTING_APPROVED).exists()


@pytest.mark.parametrize("decide", ["approve", "request_changes", "reject"])
def test_decisions_on_a_decided_revision_are_refused(personas, moderator, decide):
    revision = submitted(personas.acme, personas.member)
    services.revision_reject(actor=moderator, revision=revision, message="Not a container.")
    with pytest.raises(workflow.InvalidTransition):
        getattr(services, f"revision_{decide}")(actor=moderator, revision=revision, message="again")


def test_request_changes_needs_a_message_and_emails_it(
    personas, moderator, django_capture_on_commit_callbacks
):
    revision = submitted(personas.acme, personas.member)
    with pytest.raises(ValidationError) as excinfo:
        services.revision_request_changes(actor=moderator, revision=revision, message="  ")
    assert excinfo.value.message_dict == {
        "message": ["Say what needs to change; the publisher receives this message."]
    }
    revision.refresh_from_db()
    assert revision.state == RevisionState.IN_REVIEW
    with django_capture_on_commit_callbacks(execute=True):
        services.revision_request_changes(actor=moderator, revision=revision, message="Logo is blurry.")
    revision.refresh_from_db()
    assert revision.state == RevisionState.CHANGES_REQUESTED
    assert "Logo is blurry." in mail.outbox[0].body
    assert events(EventType.LISTING_CHANGES_REQUESTED).count() == 1


def test_publisher_fixes_and_resubmits_the_same_revision(personas, moderator):
    revision = submitted(personas.acme, personas.member)
    services.revision_request_changes(actor=moderator, revision=revision, message="Shorter name.")
    services.review_comment_add(
        actor=personas.member, product=revision.product, body="Done.", from_moderator=False
    )
    again = services.revision_save(
        actor=personas.member, product=revision.product, changes={"name": "Acme PG"}
    )
    assert again.pk == revision.pk
    resubmitted = services.revision_submit(actor=personas.member, product=revision.product)
    assert resubmitted.state == RevisionState.IN_REVIEW
    kinds = list(ReviewComment.objects.values_list("kind", flat=True))
    assert kinds == ["submitted", "changes_requested", "comment", "submitted"]


def test_reject_needs_a_message(personas, moderator):
    revision = submitted(personas.acme, personas.member)
    with pytest.raises(ValidationError):
        services.revision_reject(actor=moderator, revision=revision, message="")
    services.revision_reject(actor=moderator, revision=revision, message="Not allowed content.")
    revision.refresh_from_db()
    assert revision.state == RevisionState.REJECTED
    assert events(EventType.LISTING_REJECTED).count() == 1


def test_live_revision_stays_up_while_a_new_one_is_reviewed(personas, moderator):
    product = published(personas.acme, personas.member, moderator)
    live = product.live_revision
    draft = services.revision_save(
        actor=personas.member, product=product, changes={"name": "Acme Postgres 16"}
    )
    assert draft.pk != live.pk
    assert draft.number == 2
    assert draft.tiers.count() == 2
    assert draft.screenshots.count() == 1
    services.revision_submit(actor=personas.member, product=product)
    product.refresh_from_db()
    assert product.live_revision_id == live.pk
    assert product.name == "Acme Postgres"
    services.revision_approve(actor=moderator, revision=draft)
    product.refresh_from_db()
    live.refresh_from_db()
    assert product.live_revision_id == draft.pk
    assert product.name == "Acme Postgres 16"
    assert live.state == RevisionState.SUPERSEDED


def test_rejected_revision_leaves_the_live_one_and_a_new_draft_starts_from_it(personas, moderator):
    product = published(personas.acme, personas.member, moderator)
    draft = services.revision_save(actor=personas.member, product=product, changes={"name": "Bad"})
    services.revision_submit(actor=personas.member, product=product)
    services.revision_reject(actor=moderator, revision=draft, message="No.")
    product.refresh_from_db()
    assert product.status == ProductStatus.PUBLISHED
    third = services.revision_save(actor=personas.member, product=product, changes={"tags": "x"})
    assert third.number == 3
    assert third.based_on_id == draft.pk


def test_unpublish_and_refused_unpublish(personas, moderator):
    draft_product = complete_product(personas.acme, personas.member, name="Never live")
    with pytest.raises(workflow.InvalidTransition):
        services.product_unpublish(actor=personas.member, product=draft_product)
    product = published(personas.acme, personas.member, moderator)
    services.product_unpublish(actor=personas.member, product=product)
    product.refresh_from_db()
    assert product.status == ProductStatus.UNPUBLISHED
    assert events(EventType.LISTING_UNPUBLISHED).count() == 1
    with pytest.raises(workflow.InvalidTransition):
        services.product_unpublish(actor=personas.member, product=product)


def test_an_unpublished_product_returns_with_a_new_approved_revision(personas, moderator):
    product = published(personas.acme, personas.member, moderator)
    services.product_unpublish(actor=personas.member, product=product)
    draft = services.revision_save(actor=personas.member, product=product, changes={"tags": "back"})
    services.revision_submit(actor=personas.member, product=product)
    services.revision_approve(actor=moderator, revision=draft)
    product.refresh_from_db()
    assert product.status == ProductStatus.PUBLISHED


def test_hold_lift_and_revoke(personas, moderator):
    product = published(personas.acme, personas.member, moderator)
    services.product_hold(actor=moderator, product=product, reason="Critical CVE overdue")
    product.refresh_from_db()
    assert product.status == ProductStatus.ON_HOLD
    assert product.is_visible
    services.product_lift_hold(actor=moderator, product=product, reason="Fixed")
    services.product_hold(actor=moderator, product=product, reason="Again")
    services.product_revoke(actor=moderator, product=product, reason="30 days on hold")
    product.refresh_from_db()
    assert product.status == ProductStatus.REVOKED
    assert not product.is_visible
    with pytest.raises(workflow.InvalidTransition):
        services.product_lift_hold(actor=moderator, product=product, reason="")
    assert [e.event_type for e in AuditEvent.objects.order_by("id")][-4:] == [
        EventType.LISTING_HELD,
        EventType.LISTING_HOLD_LIFTED,
        EventType.LISTING_HELD,
        EventType.LISTING_REVOKED,
    ]


# Bad input on tiers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"price": Decimal("-1")}, "price", "The price cannot be negative; use 0 for free."),
        (
            {"billing": "one_off", "trial_days": 7},
            "trial_days",
            "Trials apply only to monthly or yearly billing; a one-off purchase has no trial days.",
        ),
        (
            {"staging_source": "acme/Server:1"},
            "staging_source",
            "Repository names use lowercase letters only.",
        ),
        (
            {"staging_source": "acme/server"},
            "staging_source",
            "Add a tag: write the staging source as namespace/repository:tag, e.g. acme/server:1.0.",
        ),
        ({"staging_source": "acme/se--rver_:1"}, "staging_source", "is not a valid repository path part"),
        ({"staging_source": "acme/server:-bad"}, "staging_source", "is not a valid tag"),
        (
            {"staging_source": "globex/server:1"},
            "staging_source",
            "The staging source must be in your namespace: start it with “acme/”.",
        ),
        ({"repository": "globex/server"}, "repository", "The repository must be in your namespace"),
        ({"repository": "acme/server:1"}, "repository", "Write the repository without a tag"),
    ],
)
def test_bad_tier_input_is_refused_with_a_specific_message(personas, overrides, field, message):
    product = services.product_create(actor=personas.member, publisher=personas.acme, name="Tiered")
    with pytest.raises(ValidationError) as excinfo:
        services.tier_create(actor=personas.member, product=product, data=tier_data(**overrides))
    assert any(message in m for m in excinfo.value.message_dict[field]), excinfo.value.message_dict
    assert not Tier.objects.exists()


def test_repository_defaults_from_namespace_and_slug_and_is_unique_across_the_store(personas):
    product = services.product_create(actor=personas.member, publisher=personas.acme, name="Acme Redis")
    first = services.tier_create(actor=personas.member, product=product, data=tier_data())
    second = services.tier_create(actor=personas.member, product=product, data=tier_data(name="Pro Plus"))
    assert first.repository == "acme/acme-redis"
    assert second.repository == "acme/acme-redis-pro-plus"
    other = services.product_create(actor=personas.member, publisher=personas.acme, name="Other")
    with pytest.raises(ValidationError) as excinfo:
        services.tier_create(
            actor=personas.member, product=other, data=tier_data(repository="acme/acme-redis")
        )
    assert excinfo.value.message_dict["repository"] == [
        "Tier “Standard”: acme/acme-redis is already used by another product; choose another name."
    ]


def test_repository_cannot_change_after_publication(personas, moderator):
    product = published(personas.acme, personas.member, moderator)
    tier = product.live_revision.tiers.first()
    with pytest.raises(ValidationError) as excinfo:
        services.tier_update(
            actor=personas.member, product=product, key=tier.key, data={"repository": "acme/new"}
        )
    assert "can no longer change" in excinfo.value.message_dict["repository"][0]
    assert product.revisions.count() == 1  # the draft copy was rolled back too


def test_short_description_over_140_characters(personas):
    product = services.product_create(actor=personas.member, publisher=personas.acme, name="Long")
    with pytest.raises(ValidationError) as excinfo:
        services.revision_save(
            actor=personas.member, product=product, changes={"short_description": "x" * 141}
        )
    assert excinfo.value.message_dict["short_description"] == [
        "Ensure this value has at most 140 characters (it has 141)."
    ]


def test_screenshot_that_is_not_an_image(personas):
    from django.core.files.uploadedfile import SimpleUploadedFile

    product = services.product_create(actor=personas.member, publisher=personas.acme, name="Shots")
    with pytest.raises(ValidationError) as excinfo:
        services.screenshot_add(
            actor=personas.member,
            product=product,
            image=SimpleUploadedFile("shot.png", b"not an image", "image/png"),
        )
    assert excinfo.value.message_dict["image"] == [
        "This file is not a readable image; upload JPEG, PNG, WEBP."
    ]


def test_screenshots_reorder_on_a_fresh_draft_by_live_ids(personas, moderator):
    product = published(personas.acme, personas.member, moderator)
    services.screenshot_add(
        actor=personas.member, product=product, image=upload(800, 600, name="b.png"), caption="B"
    )
    draft = services.working_revision(product)
    ids = list(draft.screenshots.order_by("position").values_list("id", flat=True))
    services.screenshot_reorder(actor=personas.member, product=product, order=list(reversed(ids)))
    assert list(draft.screenshots.order_by("position").values_list("caption", flat=True)) == [
        "B",
        "Dashboard",
    ]


def test_logo_must_be_square(personas):
    product = services.product_create(actor=personas.member, publisher=personas.acme, name="Logo")
    with pytest.raises(ValidationError) as excinfo:
        services.revision_save(actor=personas.member, product=product, changes={"logo": upload(600, 400)})
    assert excinfo.value.message_dict["logo"] == ["The image must be square; this one is 600x400 pixels."]


# Update notifications -----------------------------------------------------------------------


def test_subscribers_hear_when_a_tier_image_changes(personas, moderator, django_capture_on_commit_callbacks):
    product = published(personas.acme, personas.member, moderator)
    customer = UserFactory(email="customer@example.com")
    services.subscription_create(user=customer, product=product)
    tier = product.live_revision.tiers.get(name="Standard")
    services.tier_update(
        actor=personas.member,
        product=product,
        key=tier.key,
        data={"staging_source": "acme/postgres-staging:15.5"},
    )
    draft = services.revision_submit(actor=personas.member, product=product)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.revision_approve(actor=moderator, revision=draft)
    update = [m for m in mail.outbox if m.to == ["customer@example.com"]]
    assert len(update) == 1
    assert "Standard" in update[0].body
    assert update[0].extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert Notification.objects.get(user=customer).title == "Acme Postgres has new images"


def test_no_notification_when_images_are_unchanged(personas, moderator, django_capture_on_commit_callbacks):
    product = published(personas.acme, personas.member, moderator)
    services.subscription_create(user=UserFactory(), product=product)
    draft = services.revision_save(actor=personas.member, product=product, changes={"tags": "new"})
    services.revision_submit(actor=personas.member, product=product)
    with django_capture_on_commit_callbacks(execute=True):
        services.revision_approve(actor=moderator, revision=draft)
    assert not Notification.objects.exists()


def test_unsubscribe_token_round_trip(personas, moderator):
    product = published(personas.acme, personas.member, moderator)
    subscription = services.subscription_create(user=UserFactory(), product=product)
    token = services.unsubscribe_token(subscription)
    assert services.unsubscribe_with_token(token=token + "x") is None
    assert services.unsubscribe_with_token(token=token) == product
    assert not Subscription.objects.exists()


def test_manifest_helper_is_complete(personas):
    assert set(manifest()) == set(services.MANIFEST_FIELDS)
    assert Revision  # imported for readers: revisions carry the manifest


def test_paid_tier_cannot_be_submitted_before_payouts_are_enabled(personas):
    """Nobody could pay for it: submission lists the Stripe onboarding as a missing item."""
    product = complete_product(personas.acme, personas.member, payouts=False)
    with pytest.raises(ValidationError) as excinfo:
        services.revision_submit(actor=personas.member, product=product)
    assert services.PAYOUTS_REQUIRED in excinfo.value.messages


def test_paid_tier_cannot_go_live_when_payouts_stopped_during_review(personas):
    from billing.models import PayoutAccount

    moderator = make_moderator()
    revision = submitted(personas.acme, personas.member)
    PayoutAccount.objects.filter(publisher=personas.acme).update(payouts_enabled=False)
    with pytest.raises(ValidationError) as excinfo:
        services.revision_approve(actor=moderator, revision=revision)
    assert excinfo.value.code == "payouts_required"
    revision.refresh_from_db()
    assert revision.state == "in_review"


def test_free_product_needs_no_payouts(personas):
    moderator = make_moderator()
    product = published(personas.acme, personas.member, moderator, distribution="free", payouts=False)
    assert product.status == "published"

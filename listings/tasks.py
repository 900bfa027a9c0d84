"""Email for review decisions and product updates. Queued by services after their transaction commits."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.urls import reverse

from listings.models import CommentKind, Notification, ReviewComment, Revision, Subscription
from publishers.models import Membership, Role
from store.mail import RETRY_ON, build, send_all, send_templated


def _publisher_recipients(publisher_id: int) -> list[str]:
    roles = [Role.OWNER, Role.ADMIN, Role.EDITOR]
    return sorted(
        Membership.objects.filter(
            publisher_id=publisher_id, role__in=roles, user__is_active=True
        ).values_list("user__email", flat=True)
    )


@shared_task(
    acks_late=True,
    autoretry_for=RETRY_ON,
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=6,
)
def send_review_decision(comment_id: int) -> int:
    """Email the publisher's editors what the moderators decided, with the moderator's message."""
    comment = (
        ReviewComment.objects.select_related("product__publisher", "revision").filter(pk=comment_id).first()
    )
    if comment is None:
        return 0
    product = comment.product
    recipients = _publisher_recipients(product.publisher_id)
    if not recipients:
        return 0
    context = {
        "comment": comment,
        "product": product,
        "name": comment.revision.name if comment.revision else product.name,
        "decision": CommentKind(comment.kind).label,
        "manage_url": settings.SITE_URL + product.get_manage_url(),
        "SITE_NAME": settings.SITE_NAME,
    }
    return send_templated(template="emails/listings/review_decision", to=recipients, context=context)


@shared_task(
    acks_late=True,
    autoretry_for=RETRY_ON,
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=6,
)
def notify_subscribers(revision_id: int) -> int:
    """Tell each subscriber, by email and in the app, that a product's images changed."""
    from listings.services import changed_images, unsubscribe_token

    revision = (
        Revision.objects.select_related("product__publisher", "based_on").filter(pk=revision_id).first()
    )
    if revision is None:
        return 0
    product = revision.product
    tiers = changed_images(revision.based_on, revision) if revision.based_on else list(revision.tiers.all())
    subscriptions = list(Subscription.objects.filter(product=product).select_related("user"))
    if not subscriptions:
        return 0
    title = f"{revision.name} has new images"
    summary = ", ".join(tier.name for tier in tiers) or "all tiers"
    Notification.objects.bulk_create(
        Notification(user=s.user, product=product, title=title, body=f"Updated: {summary}.")
        for s in subscriptions
    )
    messages = []
    for subscription in subscriptions:
        unsubscribe_url = settings.SITE_URL + reverse(
            "listings:unsubscribe", args=[unsubscribe_token(subscription)]
        )
        messages.append(
            build(
                template="emails/listings/product_update",
                to=subscription.user.email,
                context={
                    "title": title,
                    "revision": revision,
                    "product": product,
                    "tiers": tiers,
                    "product_url": settings.SITE_URL + product.get_absolute_url(),
                    "unsubscribe_url": unsubscribe_url,
                    "SITE_NAME": settings.SITE_NAME,
                },
                headers={
                    "List-Unsubscribe": f"<{unsubscribe_url}>",
                    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                },
            )
        )
    return send_all(messages)

"""Moderation in Django admin."""

from __future__ import annotations

import pytest
from django.core import mail

from listings import services
from listings.models import Product, ProductStatus, Revision, RevisionState
from tests.listings.helpers import published, submitted

pytestmark = pytest.mark.django_db


def test_queue_lists_revisions_in_review_oldest_first(client, personas, moderator):
    first = submitted(personas.acme, personas.member, name="First")
    second = submitted(personas.acme, personas.member, name="Second")
    client.force_login(moderator)
    response = client.get("/admin/listings/revision/")
    assert response.status_code == 200
    assert [r.pk for r in response.context["cl"].result_list] == [first.pk, second.pk]
    for query in (
        "?state=all",
        "?waiting=1d",
        f"?product__publisher__id__exact={personas.acme.pk}",
        "?category__id__exact=1",
    ):
        assert client.get("/admin/listings/revision/" + query).status_code == 200


def test_review_page_shows_changes_against_live(client, personas, moderator):
    product = published(personas.acme, personas.member, moderator)
    draft = services.revision_save(
        actor=personas.member, product=product, changes={"short_description": "New words."}
    )
    services.revision_submit(actor=personas.member, product=product)
    client.force_login(moderator)
    response = client.get(f"/admin/listings/revision/{draft.pk}/change/")
    assert response.status_code == 200
    changed = [row.label for row in response.context["rows"] if row.changed]
    assert changed == ["Short description"]
    content = response.content.decode()
    assert "Scan summary" in content
    assert "New words." in content


def test_request_changes_in_admin_needs_a_message_then_emails(
    client, personas, moderator, django_capture_on_commit_callbacks
):
    revision = submitted(personas.acme, personas.member)
    client.force_login(moderator)
    url = f"/admin/listings/revision/{revision.pk}/change/"
    response = client.post(url, {"decision": "request_changes", "message": ""})
    assert response.status_code == 200
    assert "Say what the publisher has to change" in response.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"decision": "request_changes", "message": "Add a better logo."})
    assert response.status_code == 302
    revision.refresh_from_db()
    assert revision.state == RevisionState.CHANGES_REQUESTED
    assert "Add a better logo." in mail.outbox[0].body


def test_approve_in_admin(client, personas, moderator):
    revision = submitted(personas.acme, personas.member)
    client.force_login(moderator)
    client.post(f"/admin/listings/revision/{revision.pk}/change/", {"decision": "approve", "message": ""})
    assert Product.objects.get().status == ProductStatus.PUBLISHED


def test_approving_a_draft_in_admin_is_refused(client, personas, moderator):
    from tests.listings.helpers import complete_product

    product = complete_product(personas.acme, personas.member)
    revision = product.revisions.get()
    client.force_login(moderator)
    response = client.post(f"/admin/listings/revision/{revision.pk}/change/", {"decision": "approve"})
    assert response.status_code == 200
    assert "You cannot approve a revision that is draft" in response.content.decode()
    assert Revision.objects.get().state == RevisionState.DRAFT


def test_moderators_cannot_edit_publisher_content(client, personas, moderator):
    revision = submitted(personas.acme, personas.member)
    client.force_login(moderator)
    assert client.get("/admin/listings/revision/add/").status_code == 403
    assert client.post(f"/admin/listings/revision/{revision.pk}/delete/").status_code == 403
    assert (
        client.post(f"/admin/listings/revision/{revision.pk}/change/", {"name": "Hacked"}).status_code == 200
    )
    revision.refresh_from_db()
    assert revision.name == "Acme Postgres"
    assert client.get(f"/admin/listings/product/{revision.product_id}/change/").status_code == 200
    client.post(f"/admin/listings/product/{revision.product_id}/change/", {"name": "Hacked"})
    assert Product.objects.get().name == "Acme Postgres"


def test_non_moderator_staff_cannot_decide(client, personas):
    from tests.factories import UserFactory

    staff = UserFactory(is_staff=True)
    revision = submitted(personas.acme, personas.member)
    client.force_login(staff)
    assert (
        client.post(f"/admin/listings/revision/{revision.pk}/change/", {"decision": "approve"}).status_code
        == 403
    )

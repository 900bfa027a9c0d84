"""The issue's scenarios against a real docker-registry, driven by skopeo, with the store's live
server as its token service and event sink."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec

from audit.models import AuditEvent, EventType
from listings.models import AccessPolicy, RevisionState
from registry import services, tokens
from registry.models import RegistryEvent
from registry.tokens import Access
from tests.factories import UserFactory
from tests.listings.helpers import enable_payouts, make_moderator
from tests.registry.conftest import (
    Licences,
    Registry,
    ScanRequests,
    make_oci_image,
    make_tier,
    registry_token,
    wait_for,
)

pytestmark = pytest.mark.django_db(transaction=True)


def downloads(repository: str) -> int:
    return AuditEvent.objects.filter(event_type=EventType.DOWNLOAD, data__repository=repository).count()


def seen(repository: str, method: str) -> int:
    return RegistryEvent.objects.filter(repository=repository, action="pull", method=method).count()


def published_image(registry: Registry, personas, tmp_path: Path, *, slug: str, **kwargs) -> tuple:
    """A live tier whose staging image the editor pushed and the store promoted."""
    tier = make_tier(personas.acme, slug=slug, **kwargs)
    image = make_oci_image(tmp_path / f"{slug}-img", tag="1.0", content=slug)
    editor = f"{personas.member.email}:{registry_token(personas.member)}"
    pushed = registry.push(image, f"acme/{slug}-staging:1.0", editor)
    assert pushed.returncode == 0, pushed.stderr
    services.promote_revision(revision=tier.revision)
    return tier, image


def test_editor_pushes_to_staging_and_a_scan_is_queued(
    registry: Registry, personas, tmp_path: Path, scan_requests: ScanRequests, licences: Licences
) -> None:
    tier = make_tier(personas.acme, slug="scanme", state=RevisionState.DRAFT)
    image = make_oci_image(tmp_path / "img", content="scan me")
    creds = f"{personas.member.email}:{registry_token(personas.member)}"

    result = registry.push(image, "acme/scanme-staging:1.0", creds)

    assert result.returncode == 0, result.stderr
    wait_for(lambda: scan_requests.calls, what="a scan request")
    [call] = scan_requests.calls
    assert call["reference"] == f"acme/scanme-staging@{image.manifest_digest}"
    assert call["tier"] == tier
    assert call["requested_by"] == personas.member
    assert call["source"] == "registry"


def test_a_viewer_cannot_push_and_another_publisher_cannot_pull_staging(
    registry: Registry, personas, tmp_path: Path, scan_requests: ScanRequests, licences: Licences
) -> None:
    image = make_oci_image(tmp_path / "img", content="private")
    editor = f"{personas.member.email}:{registry_token(personas.member)}"
    assert registry.push(image, "acme/private:1.0", editor).returncode == 0

    viewer = f"{personas.viewer.email}:{registry_token(personas.viewer)}"
    refused = registry.push(image, "acme/private:evil", viewer)
    assert refused.returncode != 0
    assert "denied" in refused.stderr or "authentication required" in refused.stderr
    assert registry.pull("acme/private:1.0", viewer, tmp_path / "viewer").returncode == 0, "viewers pull"

    outsider = f"{personas.outsider.email}:{registry_token(personas.outsider)}"
    denied = registry.pull("acme/private:1.0", outsider, tmp_path / "outsider")
    assert denied.returncode != 0
    assert "denied" in denied.stderr or "authentication required" in denied.stderr


def test_approval_fails_and_stays_in_review_when_the_staging_image_is_missing(
    registry: Registry, personas, scan_requests: ScanRequests, licences: Licences
) -> None:
    """Nothing was pushed to staging: the moderator is told why and nothing goes live."""
    from django.core.exceptions import ValidationError

    from listings.services import revision_approve

    tier = make_tier(personas.acme, slug="nopush", state=RevisionState.IN_REVIEW, status="draft")
    enable_payouts(personas.acme)
    with pytest.raises(ValidationError) as excinfo:
        revision_approve(actor=make_moderator(), revision=tier.revision)
    assert excinfo.value.code == "promotion_failed"
    assert "stays in review" in excinfo.value.messages[0]
    tier.revision.refresh_from_db()
    tier.revision.product.refresh_from_db()
    assert (tier.revision.state, tier.revision.product.status) == ("in_review", "draft")
    assert not AuditEvent.objects.filter(event_type=EventType.IMAGE_PROMOTED).exists()


def test_approval_promotes_the_image_and_the_listing_goes_live(
    registry: Registry, personas, tmp_path: Path, scan_requests: ScanRequests, licences: Licences
) -> None:
    from listings.services import revision_approve

    tier = make_tier(personas.acme, slug="promo", state=RevisionState.IN_REVIEW, status="draft")
    image = make_oci_image(tmp_path / "img", content="promote me")
    editor = f"{personas.member.email}:{registry_token(personas.member)}"
    assert registry.push(image, "acme/promo-staging:1.0", editor).returncode == 0
    moderator = make_moderator()
    enable_payouts(personas.acme)

    revision_approve(actor=moderator, revision=tier.revision)  # promotes, then goes live

    promoted = AuditEvent.objects.get(event_type=EventType.IMAGE_PROMOTED)
    assert promoted.data["digest"] == image.manifest_digest
    assert promoted.data["repository"] == "acme/promo"
    # The digest customers pull is the one the editor pushed, under the tier's tag.
    response = requests.head(
        f"{registry.url}/v2/acme/promo/manifests/1.0",
        headers={
            "Authorization": "Bearer "
            + tokens.issue(subject="check", access=[Access("repository", "acme/promo", ("pull",))]).token,
            "Accept": "application/vnd.oci.image.manifest.v1+json",
        },
        timeout=5,
    )
    assert response.status_code == 200
    assert response.headers["Docker-Content-Digest"] == image.manifest_digest


def test_promotion_fails_clearly_when_the_staging_image_is_missing(
    registry: Registry, personas, scan_requests: ScanRequests, licences: Licences
) -> None:
    tier = make_tier(personas.acme, slug="ghost", state=RevisionState.IN_REVIEW, status="draft")

    with pytest.raises(
        services.PromotionError, match=r"Tier “Standard”: .*acme/ghost-staging:1.0 is not in the registry"
    ):
        services.promote_revision(revision=tier.revision)


def test_a_licence_holder_pull_is_one_download_and_a_head_is_none(
    registry: Registry, personas, tmp_path: Path, scan_requests: ScanRequests, licences: Licences
) -> None:
    tier, image = published_image(registry, personas, tmp_path, slug="paid")
    buyer = UserFactory(email="buyer@example.com")
    licences.grant(buyer, tier)
    raw = registry_token(buyer)
    creds = f"{buyer.email}:{raw}"

    assert registry.pull("acme/paid:1.0", creds, tmp_path / "p1").returncode == 0
    wait_for(lambda: downloads("acme/paid") == 1, what="one download")
    event = AuditEvent.objects.get(event_type=EventType.DOWNLOAD)
    assert event.actor == buyer
    assert event.publisher_id == personas.acme.pk
    assert event.target_id == str(tier.revision.product.pk)
    assert event.data["tier"] == str(tier.key)
    assert event.data["customer"] == "paid"
    assert event.data["digest"] == image.manifest_digest

    assert registry.pull("acme/paid:1.0", creds, tmp_path / "p2").returncode == 0
    wait_for(lambda: downloads("acme/paid") == 2, what="a second download")

    # A HEAD with a token the buyer was granted: the registry reports it, the store does not count it.
    granted = requests.get(
        tokens_url(registry),
        params={"service": "container-store-registry", "scope": "repository:acme/paid:pull"},
        auth=(buyer.email, raw),
        timeout=5,
    ).json()["token"]
    head = requests.head(
        f"{registry.url}/v2/acme/paid/manifests/1.0",
        headers={
            "Authorization": f"Bearer {granted}",
            "Accept": "application/vnd.oci.image.manifest.v1+json",
        },
        timeout=5,
    )
    assert head.status_code == 200
    wait_for(lambda: seen("acme/paid", "HEAD") >= 1, what="the HEAD event")
    assert downloads("acme/paid") == 2


def tokens_url(registry: Registry) -> str:
    config = (registry.config_dir / "config.yml").read_text()
    return next(line.split("realm:", 1)[1].strip() for line in config.splitlines() if "realm:" in line)


def test_a_stranger_is_denied_and_a_cancelled_licence_stops_the_next_pull(
    registry: Registry, personas, tmp_path: Path, scan_requests: ScanRequests, licences: Licences
) -> None:
    tier, _ = published_image(registry, personas, tmp_path, slug="cancel")
    stranger = UserFactory(email="stranger@example.com")
    denied = registry.pull("acme/cancel:1.0", f"{stranger.email}:{registry_token(stranger)}", tmp_path / "s")
    assert denied.returncode != 0
    assert "denied" in denied.stderr or "authentication required" in denied.stderr

    buyer = UserFactory(email="canceller@example.com")
    licences.grant(buyer, tier)
    creds = f"{buyer.email}:{registry_token(buyer)}"
    assert registry.pull("acme/cancel:1.0", creds, tmp_path / "b1").returncode == 0
    licences.cancel(buyer, tier)
    assert registry.pull("acme/cancel:1.0", creds, tmp_path / "b2").returncode != 0


def test_anonymous_pull_works_only_where_the_policy_is_everyone(
    registry: Registry, personas, tmp_path: Path, scan_requests: ScanRequests, licences: Licences
) -> None:
    published_image(registry, personas, tmp_path, slug="open", policy=AccessPolicy.EVERYONE, price="0")
    published_image(registry, personas, tmp_path, slug="members", policy=AccessPolicy.LOGGED_IN, price="0")

    assert registry.pull("acme/open:1.0", None, tmp_path / "a1").returncode == 0
    assert registry.pull("acme/members:1.0", None, tmp_path / "a2").returncode != 0
    wait_for(lambda: downloads("acme/open") == 1, what="the anonymous download")
    event = AuditEvent.objects.get(event_type=EventType.DOWNLOAD, data__repository="acme/open")
    assert event.actor is None
    assert event.data["anonymous"] is True
    assert event.data["customer"] == "free"


def test_forged_and_expired_tokens_are_refused_by_the_registry(
    registry: Registry, personas, tmp_path: Path, scan_requests: ScanRequests, licences: Licences
) -> None:
    published_image(registry, personas, tmp_path, slug="guarded", policy=AccessPolicy.EVERYONE, price="0")
    url = f"{registry.url}/v2/acme/guarded/manifests/1.0"
    accept = {"Accept": "application/vnd.oci.image.manifest.v1+json"}
    good = tokens.issue(subject="", access=[Access("repository", "acme/guarded", ("pull",))]).token
    assert (
        requests.get(url, headers={**accept, "Authorization": f"Bearer {good}"}, timeout=5).status_code == 200
    )

    now = int(time.time())
    claims = {
        "iss": tokens.issuer(),
        "sub": "",
        "aud": tokens.service(),
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "jti": "forged",
        "access": [{"type": "repository", "name": "acme/guarded", "actions": ["pull"]}],
    }
    other_key = ec.generate_private_key(ec.SECP256R1())
    forged = jwt.encode(claims, other_key, algorithm="ES256", headers={"kid": tokens.signing_key().kid})
    expired = jwt.encode(
        {**claims, "iat": now - 900, "nbf": now - 900, "exp": now - 300},
        tokens.signing_key().private_key,
        algorithm="ES256",
        headers={"kid": tokens.signing_key().kid},
    )
    for bad in (forged, expired):
        response = requests.get(url, headers={**accept, "Authorization": f"Bearer {bad}"}, timeout=5)
        assert response.status_code == 401
        assert 'error="invalid_token"' in response.headers["Www-Authenticate"]


def test_registry_config_starts_a_registry_that_asks_the_store_for_tokens(
    registry: Registry, live_server, personas, tmp_path: Path
) -> None:
    """The issue's "must show": the config ``registry_config`` wrote is what this registry runs
    (the session fixture starts ``docker-registry serve DIR/config.yml``); its challenge names the
    store's token endpoint, and a login with an access token goes through the store."""
    challenge = requests.get(f"{registry.url}/v2/", timeout=5)
    assert challenge.status_code == 401
    assert challenge.headers["Www-Authenticate"] == (
        f'Bearer realm="{live_server.url}/registry/token",service="{tokens.service()}"'
    )

    raw = registry_token(personas.member)
    login = registry.skopeo(
        "login", "--tls-verify=false", "-u", personas.member.email, "-p", raw, registry.host
    )
    assert login.returncode == 0, login.stderr
    from accounts.models import AccessToken

    assert AccessToken.objects.get(user=personas.member).last_used_at is not None, "the store was asked"
    wrong = registry.skopeo(
        "login", "--tls-verify=false", "-u", personas.member.email, "-p", "csp_wrong", registry.host
    )
    assert wrong.returncode != 0
    assert "invalid username/password" in wrong.stderr


def test_promotion_uploads_the_blobs_when_the_registry_cannot_mount_them(
    registry: Registry, personas, tmp_path: Path, scan_requests: ScanRequests, licences: Licences
) -> None:
    """Blob mount is an optimisation the registry may decline (202 and an upload session, e.g.
    when the ``from`` repository does not hold the blob, or with storage that cannot link); the
    client then streams each blob from the source into that upload."""
    from registry.client import RegistryClient

    image = make_oci_image(tmp_path / "img", content="uploaded, not mounted")
    editor = f"{personas.member.email}:{registry_token(personas.member)}"
    assert registry.push(image, "acme/upload-staging:1.0", editor).returncode == 0

    how: list[str] = []
    with RegistryClient() as client:
        request = client.session.request

        def mount_from_elsewhere(method: str, url: str, **kwargs):
            params = kwargs.get("params") or {}
            if method == "POST" and "mount" in params:
                kwargs["params"] = {**params, "from": "acme/nowhere"}  # nothing there to mount
            return request(method, url, **kwargs)

        client.session.request = mount_from_elsewhere  # type: ignore[method-assign]
        authorize = client._authorize
        # Readable but without the blobs: the registry answers 202 (a 401 if it were unreadable).
        client._authorize = lambda *, pull, push: authorize(pull=[*pull, "acme/nowhere"], push=push)  # type: ignore[method-assign]
        copy_blob = client.copy_blob
        client.copy_blob = lambda **kw: how.append(copy_blob(**kw)) or how[-1]  # type: ignore[method-assign]
        manifest = client.copy_image(source="acme/upload-staging", reference="1.0", destination="acme/upload")
        blobs = manifest.blob_digests()

    assert how == ["uploaded"] * len(blobs) == ["uploaded", "uploaded"]
    bearer = tokens.issue(subject="check", access=[Access("repository", "acme/upload", ("pull",))]).token
    for digest in blobs:
        response = requests.get(
            f"{registry.url}/v2/acme/upload/blobs/{digest}",
            headers={"Authorization": f"Bearer {bearer}"},
            timeout=5,
        )
        assert response.status_code == 200
        assert f"sha256:{hashlib.sha256(response.content).hexdigest()}" == digest
    assert manifest.digest == image.manifest_digest


def test_promotion_copies_the_digest_pushed_before_submission_not_a_later_push(
    registry: Registry, personas, tmp_path: Path, scan_requests: ScanRequests, licences: Licences
) -> None:
    from django.utils import timezone

    from listings.models import Revision

    tier = make_tier(personas.acme, slug="pinned", state=RevisionState.IN_REVIEW, status="draft")
    editor = f"{personas.member.email}:{registry_token(personas.member)}"
    reviewed = make_oci_image(tmp_path / "reviewed", content="what the moderator reviewed")
    assert registry.push(reviewed, "acme/pinned-staging:1.0", editor).returncode == 0
    wait_for(
        lambda: RegistryEvent.objects.filter(
            action="push", digest=reviewed.manifest_digest, tag="1.0"
        ).exists(),
        what="the push event",
    )
    Revision.objects.filter(pk=tier.revision.pk).update(submitted_at=timezone.now())
    time.sleep(0.05)
    sneaked = make_oci_image(tmp_path / "sneaked", content="pushed after submission")
    assert registry.push(sneaked, "acme/pinned-staging:1.0", editor).returncode == 0
    wait_for(
        lambda: RegistryEvent.objects.filter(action="push", digest=sneaked.manifest_digest).exists(),
        what="the later push event",
    )
    tier.revision.refresh_from_db()

    services.promote_revision(revision=tier.revision)

    promoted = AuditEvent.objects.get(event_type=EventType.IMAGE_PROMOTED)
    assert (promoted.data["digest"], promoted.data["pinned"]) == (reviewed.manifest_digest, "submission")
    bearer = tokens.issue(subject="check", access=[Access("repository", "acme/pinned", ("pull",))]).token
    response = requests.head(
        f"{registry.url}/v2/acme/pinned/manifests/1.0",
        headers={"Authorization": f"Bearer {bearer}", "Accept": "application/vnd.oci.image.manifest.v1+json"},
        timeout=5,
    )
    assert response.headers["Docker-Content-Digest"] == reviewed.manifest_digest

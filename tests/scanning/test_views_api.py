"""Results pages and API: members and moderators see a publisher's scans; everyone else gets 404."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext

from scanning import services
from scanning.models import Scan, ScanSource, ScanStatus, SeverityOverride
from scanning.roles import SECURITY_TEAM_GROUP, sync_security_team_group
from tests.factories import UserFactory
from tests.scanning.helpers import alpine_image, alpine_records, write_records

pytestmark = pytest.mark.django_db


@pytest.fixture
def scan(personas, tmp_path, django_capture_on_commit_callbacks) -> Scan:
    """A finished scan of acme's (a path scan attributed to acme, as the registry would give)."""
    services.advisories_import(path=write_records(tmp_path / "osv", alpine_records()))
    image = alpine_image(tmp_path / "app.tar")
    with django_capture_on_commit_callbacks(execute=True):
        scan = services.scan_request(reference=str(image), source=ScanSource.PATH)
    Scan.objects.filter(pk=scan.pk).update(publisher=personas.acme)
    scan.refresh_from_db()
    assert scan.status == ScanStatus.DONE, scan.reason
    return scan


def pages(scan: Scan) -> list[str]:
    base = f"/scanning/acme/scans/{scan.pk}/"
    return ["/scanning/acme/", base, f"{base}?severity=critical&fixable=1", f"{base}sbom.json"]


def endpoints(scan: Scan) -> list[str]:
    base = f"/api/v1/publishers/acme/scans/{scan.pk}/"
    return [
        "/api/v1/publishers/acme/scans/",
        base,
        f"{base}components/",
        f"{base}findings/",
        f"{base}sbom/",
    ]


@pytest.mark.parametrize("who", ["owner", "member", "viewer", "moderator"])
def test_members_and_moderators_see_every_page_and_endpoint(
    client, api_client, personas, moderator, scan, who
):
    user = moderator if who == "moderator" else getattr(personas, who)
    client.force_login(user)
    api_client.force_authenticate(user)
    for url in pages(scan):
        assert client.get(url).status_code == 200, url
    for url in endpoints(scan):
        assert api_client.get(url).status_code == 200, url


@pytest.mark.parametrize("who", ["outsider", "customer", "staff-without-permission", "anonymous"])
@pytest.mark.parametrize("kind", ["page", "endpoint"])
def test_everyone_else_gets_404(client, api_client, personas, scan, who, kind):
    user = {
        "outsider": personas.outsider,
        "customer": UserFactory(email="buyer@example.com"),
        "staff-without-permission": UserFactory(email="staff@store.example.com", is_staff=True),
        "anonymous": None,
    }[who]
    if user is not None:
        client.force_login(user)
        api_client.force_authenticate(user)
    urls = pages(scan) if kind == "page" else endpoints(scan)
    for url in urls:
        response = client.get(url) if kind == "page" else api_client.get(url)
        if user is None and kind == "page":
            assert response.status_code == 302 and "/login" in response["Location"], url
        elif user is None:
            assert response.status_code in (401, 403), url
        else:
            assert response.status_code == 404, url
    # another tenant's id under one's own namespace is not found either
    if who == "outsider":
        client.force_login(personas.outsider)
        assert client.get(f"/scanning/globex/scans/{scan.pk}/").status_code == 404
        api_client.force_authenticate(personas.outsider)
        assert api_client.get(f"/api/v1/publishers/globex/scans/{scan.pk}/findings/").status_code == 404


def test_detail_page_shows_summary_layers_and_filters(client, personas, scan):
    client.force_login(personas.member)
    response = client.get(f"/scanning/acme/scans/{scan.pk}/")
    body = response.content.decode()
    assert response.context["counts"] == {
        "critical": 2,
        "major": 1,
        "minor": 0,
        "none": 0,
        "unknown": 0,
        "fixable": 2,
        "total": 3,
    }
    assert "CVE-2024-0001" in body and "9.8" in body and "1.2.4_git20230717-r5" in body
    assert "Layer 0" in body and "Layer 1" in body and "zlib" in body
    assert "Refresh" not in response
    only_major = client.get(f"/scanning/acme/scans/{scan.pk}/?severity=major")
    assert [f.advisory_id for f in only_major.context["page"]] == ["ALPINE-CVE-2024-0003"]
    fixable = client.get(f"/scanning/acme/scans/{scan.pk}/?fixable=1")
    assert {f.cve for f in fixable.context["page"]} == {"CVE-2024-0001", "CVE-2024-0002"}


def test_a_running_scan_shows_progress_and_refreshes(client, personas, scan):
    Scan.objects.filter(pk=scan.pk).update(status=ScanStatus.RUNNING, layers_done=1, layers_total=4)
    client.force_login(personas.viewer)
    response = client.get(f"/scanning/acme/scans/{scan.pk}/")
    assert response["Refresh"] == "5"
    assert "Layer 1 of 4 read" in response.content.decode()
    assert 'aria-valuenow="25"' in response.content.decode()
    data = client.get(f"/api/v1/publishers/acme/scans/{scan.pk}/").json()
    assert data["progress"] == {"layers_done": 1, "layers_total": 4, "percent": 25}


def test_api_findings_filter_and_shape(api_client, personas, scan):
    api_client.force_authenticate(personas.member)
    data = api_client.get(f"/api/v1/publishers/acme/scans/{scan.pk}/findings/?severity=critical").json()
    assert data["count"] == 2
    first = data["results"][0]
    assert first["severity"] == "critical" and first["cvss_score"] in ("9.8", "9.3")
    assert set(first) >= {
        "cve",
        "cvss_vector",
        "fixed_version",
        "fix_state",
        "first_seen_at",
        "package",
        "layer",
    }
    not_fixable = api_client.get(f"/api/v1/publishers/acme/scans/{scan.pk}/findings/?fixable=false").json()
    assert [f["cve"] for f in not_fixable["results"]] == ["CVE-2024-0003"]
    components = api_client.get(f"/api/v1/publishers/acme/scans/{scan.pk}/components/?layer=1").json()
    assert [c["name"] for c in components["results"]] == ["zlib"]
    detail = api_client.get(f"/api/v1/publishers/acme/scans/{scan.pk}/").json()
    assert detail["os"] == {"family": "alpine", "version": "3.18.4"}
    assert detail["counts"]["total"] == 3 and len(detail["layers"]) == 2
    bom = api_client.get(f"/api/v1/publishers/acme/scans/{scan.pk}/sbom/").json()
    assert bom["specVersion"] == "1.5"


def test_list_endpoints_use_a_fixed_number_of_queries(api_client, client, personas, scan):
    api_client.force_authenticate(personas.member)
    client.force_login(personas.member)
    urls = [
        "/api/v1/publishers/acme/scans/",
        f"/api/v1/publishers/acme/scans/{scan.pk}/findings/",
        f"/api/v1/publishers/acme/scans/{scan.pk}/components/",
    ]
    before = {}
    for url in urls:
        with CaptureQueriesContext(connection) as ctx:
            assert api_client.get(url).status_code == 200
        before[url] = len(ctx)
    with CaptureQueriesContext(connection) as ctx:
        client.get("/scanning/acme/")
    page_before = len(ctx)
    # more scans, findings and components must not mean more queries
    for _ in range(3):
        Scan.objects.create(
            publisher=personas.acme, reference="acme/other:1", source=ScanSource.PATH, status=ScanStatus.DONE
        )
    finding = scan.findings.first()
    for i in range(5):
        component = scan.components.create(
            name=f"extra{i}", version="1", package_type="apk", purl=f"pkg:apk/x{i}", layer=scan.layers.first()
        )
        scan.findings.create(
            component=component,
            advisory_id=f"X-{i}",
            installed_version="1",
            fix_state="fixed",
            severity="minor",
            cve=finding.cve,
        )
    for url in urls:
        with CaptureQueriesContext(connection) as ctx:
            assert api_client.get(url).status_code == 200
        assert len(ctx) == before[url], url
    with CaptureQueriesContext(connection) as ctx:
        client.get("/scanning/acme/")
    assert len(ctx) == page_before


def test_rescan_needs_the_editor_role(
    api_client, client, personas, scan, settings, django_capture_on_commit_callbacks
):
    settings.REGISTRY_URL = ""
    Scan.objects.filter(pk=scan.pk).update(source=ScanSource.REGISTRY, reference="acme/app:1")
    api_client.force_authenticate(personas.viewer)
    assert api_client.post(f"/api/v1/publishers/acme/scans/{scan.pk}/rescan/").status_code == 403
    api_client.force_authenticate(personas.member)
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(f"/api/v1/publishers/acme/scans/{scan.pk}/rescan/")
    assert response.status_code == 202
    new = Scan.objects.get(pk=response.json()["id"])
    assert (new.reference, new.publisher, new.status, new.reason) == (
        "acme/app:1",
        personas.acme,
        "failed",
        "no registry configured",
    )
    client.force_login(personas.owner)
    response = client.post(f"/scanning/acme/scans/{scan.pk}/rescan/")
    assert response.status_code == 302


def test_path_scans_cannot_be_rescanned_from_the_web(api_client, personas, scan):
    api_client.force_authenticate(personas.member)
    response = api_client.post(f"/api/v1/publishers/acme/scans/{scan.pk}/rescan/")
    assert response.status_code == 400
    assert "registry" in response.json()["error"]["message"]


def test_admin_scan_is_read_only_with_findings_inline(client, moderator, scan):
    client.force_login(moderator)
    assert client.get("/admin/scanning/scan/").status_code == 200
    response = client.get(f"/admin/scanning/scan/{scan.pk}/change/")
    assert response.status_code == 200
    assert "CVE-2024-0001" in response.content.decode()
    assert client.post(f"/admin/scanning/scan/{scan.pk}/delete/").status_code == 403
    assert client.get("/admin/scanning/advisory/").status_code == 200
    assert client.get("/admin/scanning/severityoverride/add/").status_code == 403


def test_security_team_overrides_severity_in_admin(client, scan, django_capture_on_commit_callbacks):
    sync_security_team_group()
    member = UserFactory(email="sec@store.example.com", is_staff=True)
    member.groups.add(Group.objects.get(name=SECURITY_TEAM_GROUP))
    client.force_login(member)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/admin/scanning/severityoverride/add/",
            {"identifier": "CVE-2024-0003", "severity": "critical", "reason": "Exploited in the wild"},
        )
    assert response.status_code == 302
    override = SeverityOverride.objects.get()
    assert override.author == member
    assert scan.findings.get(cve="CVE-2024-0003").severity == "critical"


def test_the_review_summary_include_renders(personas, scan):
    from django.template.loader import render_to_string

    from scanning.selectors import scan_summary_for_revision
    from tests.listings.helpers import complete_product

    product = complete_product(personas.acme, personas.member, tiers=1)
    revision = product.revisions.get()
    Scan.objects.filter(pk=scan.pk).update(reference=revision.tiers.get().staging_source)
    html = render_to_string("scanning/_summary.html", {"summary": scan_summary_for_revision(revision)})
    assert "Every image of this revision has been scanned" in html
    assert "CVE-2024-0001" in html and "2 critical" in html


def test_admin_review_page_shows_the_scan_summary_of_the_submitted_revision(
    client, personas, moderator, monkeypatch, settings, tmp_path, django_capture_on_commit_callbacks
):
    """Submit a revision: its staging images are scanned (real engine, real data) and the moderators'
    review page in admin shows the summary by severity, the critical CVEs and a failed scan's reason."""
    from tests.listings.helpers import submitted

    services.advisories_import(path=write_records(tmp_path / "osv", alpine_records()))
    image = alpine_image(tmp_path / "app.tar")
    settings.REGISTRY_URL = "registry.internal"
    real_open = services.engine.open_source

    def open_source(reference, **options):
        if reference.endswith("/pg-free:15"):
            raise services.engine.ScanError("the registry registry.internal answered 404")
        return real_open(str(image))

    monkeypatch.setattr(services.engine, "open_source", open_source)
    with django_capture_on_commit_callbacks(execute=True):
        revision = submitted(personas.acme, personas.member, tiers=2)

    client.force_login(moderator)
    response = client.get(f"/admin/listings/revision/{revision.pk}/change/")
    assert response.status_code == 200
    summary = response.context["scan_summary"]
    assert [row.reference for row in summary["tiers"]] == ["acme/postgres-staging:15.4", "acme/pg-free:15"]
    html = response.content.decode()
    assert "Scan summary" in html
    assert "1 scan failed." in html and "answered 404" in html
    assert "CVE-2024-0001" in html and "CVE-2024-0002" in html  # the two critical ones, named
    assert "2 critical" in html and "1 major" in html
    done = Scan.objects.get(revision=revision, reference="acme/postgres-staging:15.4")
    assert f"/scans/{done.pk}/" in html  # links to the publisher's scan page

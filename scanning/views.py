"""Scan results for publishers (and moderators): the list, one scan, its SBOM, a rescan."""

from __future__ import annotations

import json
from typing import cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from accounts.models import User
from publishers.models import Role
from scanning import selectors, services
from scanning.models import ScanStatus, Severity

PAGE_SIZE = 100
REFRESH_SECONDS = 5


@login_required
@require_GET
def scan_list(request: HttpRequest, namespace: str) -> HttpResponse:
    publisher = selectors.get_publisher_for_viewer(request.user, namespace)
    page = Paginator(selectors.scans_for_publisher(publisher), 50).get_page(request.GET.get("page"))
    response = render(request, "scanning/scan_list.html", {"publisher": publisher, "page": page})
    if any(scan.is_active for scan in page.object_list):
        response["Refresh"] = str(REFRESH_SECONDS)
    return response


@login_required
@require_GET
def scan_detail(request: HttpRequest, namespace: str, scan_id: int) -> HttpResponse:
    scan = selectors.get_scan_for_viewer(request.user, namespace, scan_id)
    filters = selectors.FindingFilter.from_query(request.GET)
    page = Paginator(selectors.findings_of(scan, filters), PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    membership = getattr(scan.publisher, "membership", None)
    layers = selectors.layers_with_components(scan) if scan.status == ScanStatus.DONE else []
    response = render(
        request,
        "scanning/scan_detail.html",
        {
            "publisher": scan.publisher,
            "scan": scan,
            "counts": selectors.severity_counts(scan),
            "layers": layers,
            "component_count": sum(len(layer.components.all()) for layer in layers),
            "page": page,
            "filters": filters,
            "severities": Severity.choices,
            "querystring": query.urlencode(),
            "can_rescan": membership is not None and membership.role_enum.at_least(Role.EDITOR),
        },
    )
    if scan.is_active:
        response["Refresh"] = str(REFRESH_SECONDS)  # the progress bar moves without script
    return response


@login_required
@require_GET
def scan_sbom(request: HttpRequest, namespace: str, scan_id: int) -> HttpResponse:
    scan = selectors.get_scan_for_viewer(request.user, namespace, scan_id)
    bom = services.scan_sbom(scan)
    response = HttpResponse(json.dumps(bom, indent=2), content_type="application/vnd.cyclonedx+json")
    response["Content-Disposition"] = f'attachment; filename="scan-{scan.pk}.cdx.json"'
    return response


@login_required
@require_POST
def scan_rescan(request: HttpRequest, namespace: str, scan_id: int) -> HttpResponse:
    scan = selectors.get_scan_for_viewer(request.user, namespace, scan_id, min_role=Role.EDITOR)
    try:
        new = services.scan_rescan(scan=scan, requested_by=cast(User, request.user))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("scanning:scan", namespace, scan.pk)
    messages.success(request, "The image is queued for a new scan.")
    return redirect("scanning:scan", namespace, new.pk)

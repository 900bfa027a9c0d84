"""The scanning API: a publisher's scans, their components and findings, a rescan, the SBOM.

Members of the publisher and the store's moderators read them; anyone else gets 404.
"""

from __future__ import annotations

from typing import Any, cast

from django.db.models import QuerySet
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import generics, permissions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import TokenScopePermission
from accounts.models import User
from listings.models import Product
from publishers.models import Role
from scanning import selectors, services
from scanning.models import Component, Finding, Layer, Scan, Severity

MEMBER = [permissions.IsAuthenticated, TokenScopePermission]


class CountsSerializer(serializers.Serializer):
    critical = serializers.IntegerField()
    major = serializers.IntegerField()
    minor = serializers.IntegerField()
    unknown = serializers.IntegerField()
    fixable = serializers.IntegerField()
    total = serializers.IntegerField()


class ProgressSerializer(serializers.Serializer):
    layers_done = serializers.IntegerField()
    layers_total = serializers.IntegerField()
    percent = serializers.IntegerField()


class ScanSerializer(serializers.ModelSerializer):
    product: serializers.SlugRelatedField[Product] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True
    )
    tier = serializers.UUIDField(source="tier_key", read_only=True, allow_null=True)
    revision = serializers.IntegerField(
        source="revision.number", read_only=True, allow_null=True, default=None
    )
    os = serializers.SerializerMethodField()
    # A plain string, not an enum component: "status" enums of other apps would collide in the schema.
    status = serializers.CharField(read_only=True, help_text="queued, running, done or failed.")
    progress = serializers.SerializerMethodField()
    counts = serializers.SerializerMethodField()

    class Meta:
        model = Scan
        fields = [
            "id",
            "reference",
            "platform",
            "digest",
            "config_digest",
            "product",
            "tier",
            "revision",
            "status",
            "reason",
            "progress",
            "os",
            "counts",
            "queued_at",
            "started_at",
            "finished_at",
            "matched_at",
        ]

    @extend_schema_field(
        {
            "type": "object",
            "nullable": True,
            "properties": {"family": {"type": "string"}, "version": {"type": "string"}},
        }
    )
    def get_os(self, scan: Scan) -> dict[str, str] | None:
        return {"family": scan.os_family, "version": scan.os_version} if scan.os_family else None

    @extend_schema_field(ProgressSerializer)
    def get_progress(self, scan: Scan) -> dict[str, int]:
        return {
            "layers_done": scan.layers_done,
            "layers_total": scan.layers_total,
            "percent": scan.progress_percent,
        }

    @extend_schema_field(CountsSerializer)
    def get_counts(self, scan: Scan) -> dict[str, int]:
        return selectors.severity_counts(scan)


class LayerSerializer(serializers.ModelSerializer):
    class Meta:
        model = Layer
        fields = ["index", "digest", "diff_id", "media_type", "size", "created_by"]


class ScanDetailSerializer(ScanSerializer):
    layers = LayerSerializer(many=True, read_only=True)
    warnings = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta(ScanSerializer.Meta):
        fields = [*ScanSerializer.Meta.fields, "layers", "warnings"]


class ComponentSerializer(serializers.ModelSerializer):
    layer = serializers.IntegerField(source="layer.index", allow_null=True, default=None)
    layer_diff_id = serializers.CharField(source="layer.diff_id", allow_null=True, default=None)

    class Meta:
        model = Component
        fields = [
            "id",
            "name",
            "version",
            "source_name",
            "source_version",
            "package_type",
            "ecosystem",
            "purl",
            "layer",
            "layer_diff_id",
        ]


class FindingSerializer(serializers.ModelSerializer):
    package = serializers.CharField(source="component.name")
    component = serializers.IntegerField(source="component_id")
    layer = serializers.IntegerField(source="component.layer.index", allow_null=True, default=None)

    class Meta:
        model = Finding
        fields = [
            "id",
            "advisory_id",
            "aliases",
            "cve",
            "summary",
            "package",
            "component",
            "layer",
            "installed_version",
            "fixed_version",
            "fix_state",
            "cvss_vector",
            "cvss_score",
            "severity",
            "overridden",
            "first_seen_at",
            "notified_at",
        ]


class ScanList(generics.ListAPIView):
    permission_classes = MEMBER
    serializer_class = ScanSerializer
    filterset_class = None

    def get_queryset(self) -> QuerySet[Scan]:
        if getattr(self, "swagger_fake_view", False):
            return Scan.objects.none()
        publisher = selectors.get_publisher_for_viewer(self.request.user, self.kwargs["namespace"])
        return selectors.scans_for_publisher(publisher)

    @extend_schema(summary="A publisher's image scans, newest first", tags=["scans"])
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class ScanDetail(APIView):
    permission_classes = MEMBER

    @extend_schema(
        summary="One scan: status, progress, counts by severity, layers",
        tags=["scans"],
        responses=ScanDetailSerializer,
    )
    def get(self, request: Request, namespace: str, scan_id: int) -> Response:
        scan = selectors.get_scan_for_viewer(request.user, namespace, scan_id)
        return Response(ScanDetailSerializer(scan).data)


class ScanComponents(generics.ListAPIView):
    permission_classes = MEMBER
    serializer_class = ComponentSerializer
    filterset_class = None

    def get_queryset(self) -> QuerySet[Component]:
        if getattr(self, "swagger_fake_view", False):
            return Component.objects.none()
        scan = selectors.get_scan_for_viewer(
            self.request.user, self.kwargs["namespace"], self.kwargs["scan_id"]
        )
        raw = self.request.query_params.get("layer", "")
        layer = int(raw) if raw.isdigit() else None
        return selectors.components_of(scan, layer=layer)

    @extend_schema(
        summary="The packages of a scanned image, by layer",
        tags=["scans"],
        parameters=[
            OpenApiParameter("layer", OpenApiTypes.INT, description="Only this layer (0 is the bottom).")
        ],
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class ScanFindings(generics.ListAPIView):
    permission_classes = MEMBER
    serializer_class = FindingSerializer
    filterset_class = None

    def get_queryset(self) -> QuerySet[Finding]:
        if getattr(self, "swagger_fake_view", False):
            return Finding.objects.none()
        scan = selectors.get_scan_for_viewer(
            self.request.user, self.kwargs["namespace"], self.kwargs["scan_id"]
        )
        return selectors.findings_of(scan, selectors.FindingFilter.from_query(self.request.query_params))

    @extend_schema(
        summary="The vulnerabilities found in a scanned image, worst first",
        tags=["scans"],
        parameters=[
            OpenApiParameter("severity", OpenApiTypes.STR, enum=Severity.values),
            OpenApiParameter("fixable", OpenApiTypes.BOOL, description="Only those with (or without) a fix."),
        ],
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class ScanRescan(APIView):
    permission_classes = MEMBER

    @extend_schema(
        summary="Scan the same image reference again (editors and above)",
        tags=["scans"],
        request=None,
        responses={202: ScanSerializer},
    )
    def post(self, request: Request, namespace: str, scan_id: int) -> Response:
        scan = selectors.get_scan_for_viewer(request.user, namespace, scan_id, min_role=Role.EDITOR)
        new = services.scan_rescan(scan=scan, requested_by=cast(User, request.user))
        return Response(ScanSerializer(new).data, status=status.HTTP_202_ACCEPTED)


class ScanSBOM(APIView):
    permission_classes = MEMBER

    @extend_schema(
        summary="The image's inventory as CycloneDX 1.5 JSON",
        tags=["scans"],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request: Request, namespace: str, scan_id: int) -> Response:
        scan = selectors.get_scan_for_viewer(request.user, namespace, scan_id)
        return Response(services.scan_sbom(scan))


scan_path = "publishers/<str:namespace>/scans/<int:scan_id>/"
urlpatterns = [
    path("publishers/<str:namespace>/scans/", ScanList.as_view(), name="api-scans"),
    path(scan_path, ScanDetail.as_view(), name="api-scan"),
    path(f"{scan_path}components/", ScanComponents.as_view(), name="api-scan-components"),
    path(f"{scan_path}findings/", ScanFindings.as_view(), name="api-scan-findings"),
    path(f"{scan_path}rescan/", ScanRescan.as_view(), name="api-scan-rescan"),
    path(f"{scan_path}sbom/", ScanSBOM.as_view(), name="api-scan-sbom"),
]

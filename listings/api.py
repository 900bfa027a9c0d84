"""The listings API: the public catalog, publishers' products and tiers, and moderation for staff.

Views stay thin: a scoped lookup, an input serializer, one service call, an output serializer.
"""

from __future__ import annotations

from typing import Any, cast

import django_filters
from django.db.models import F, QuerySet
from django.urls import path
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import generics, permissions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import TokenScopePermission
from accounts.models import User
from listings import selectors, services
from listings.models import (
    AccessPolicy,
    Category,
    EngineCompatibility,
    Kind,
    Product,
    ProductStatus,
    Revision,
    Screenshot,
    Tier,
)
from listings.views import registry_host
from publishers.models import Role
from publishers.selectors import get_publisher_for_member

MEMBER = [permissions.IsAuthenticated, TokenScopePermission]


def _actor(request: Request) -> User:
    return cast(User, request.user)


# ---------------------------------------------------------------------------------------------
# Serializers


class TierSerializer(serializers.ModelSerializer):
    pull = serializers.SerializerMethodField(help_text="The docker pull command customers run.")
    action = serializers.CharField(read_only=True, help_text="Get, Start trial or Buy.")

    class Meta:
        model = Tier
        fields = [
            "key",
            "name",
            "description",
            "price",
            "currency",
            "billing",
            "trial_days",
            "licence_required",
            "repository",
            "pull",
            "action",
        ]

    def get_pull(self, tier: Tier) -> str:
        return f"docker pull {registry_host()}/{tier.repository}:{tier.tag}"


class PublisherTierSerializer(TierSerializer):
    class Meta(TierSerializer.Meta):
        fields = [*TierSerializer.Meta.fields, "staging_source", "repository_locked"]


class TierInputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Tier
        fields = list(services.TIER_FIELDS)
        extra_kwargs = {"name": {"required": True}}


class ProductCardSerializer(serializers.ModelSerializer):
    publisher = serializers.CharField(source="publisher.namespace")
    publisher_name = serializers.CharField(source="publisher.legal_name")
    short_description = serializers.CharField(source="live_revision.short_description")
    category: serializers.SlugRelatedField[Category] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True
    )
    certified = serializers.BooleanField(source="is_certified")
    on_hold = serializers.SerializerMethodField()
    logo = serializers.SerializerMethodField()
    url = serializers.CharField(source="get_absolute_url")

    class Meta:
        model = Product
        fields = [
            "publisher",
            "publisher_name",
            "slug",
            "name",
            "short_description",
            "category",
            "kind",
            "distribution",
            "certified",
            "on_hold",
            "logo",
            "url",
            "first_published_at",
        ]

    def get_on_hold(self, product: Product) -> bool:
        return product.status == "on_hold"

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_logo(self, product: Product) -> str | None:
        revision = product.live_revision
        return revision.logo.url if revision is not None and revision.logo else None


class ScreenshotSerializer(serializers.ModelSerializer):
    class Meta:
        model = Screenshot
        fields = ["id", "image", "caption", "position"]


class ProductDetailSerializer(ProductCardSerializer):
    long_description = serializers.CharField(source="live_revision.long_description")
    installation_instructions = serializers.CharField(source="live_revision.installation_instructions")
    support_url = serializers.CharField(source="live_revision.support_url")
    licence_url = serializers.CharField(source="live_revision.licence_url")
    access_policy = serializers.ChoiceField(
        source="live_revision.access_policy", choices=AccessPolicy.choices
    )
    engine_compatibility = serializers.ChoiceField(
        source="live_revision.engine_compatibility", choices=EngineCompatibility.choices
    )
    tags = serializers.ListField(source="live_revision.tag_list", child=serializers.CharField())
    tiers = TierSerializer(source="live_revision.tier_list", many=True)
    screenshots = ScreenshotSerializer(source="live_revision.screenshot_list", many=True)

    class Meta(ProductCardSerializer.Meta):
        fields = [
            *ProductCardSerializer.Meta.fields,
            "long_description",
            "installation_instructions",
            "support_url",
            "licence_url",
            "access_policy",
            "engine_compatibility",
            "tags",
            "tiers",
            "screenshots",
        ]


class RevisionSerializer(serializers.ModelSerializer):
    category: serializers.SlugRelatedField[Category] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True
    )
    tags = serializers.CharField()
    tiers = PublisherTierSerializer(many=True, read_only=True)
    screenshots = ScreenshotSerializer(many=True, read_only=True)

    class Meta:
        model = Revision
        fields = [
            "number",
            "state",
            *list(services.MANIFEST_FIELDS),
            "submitted_at",
            "decided_at",
            "tiers",
            "screenshots",
        ]


class RevisionInputSerializer(serializers.ModelSerializer):
    category = serializers.SlugRelatedField(
        slug_field="slug", queryset=Category.objects.all(), required=False, allow_null=True
    )

    class Meta:
        model = Revision
        fields = list(services.MANIFEST_FIELDS)
        extra_kwargs = {"logo": {"required": False}}


class PublisherProductSerializer(serializers.ModelSerializer):
    catalog_status = serializers.ChoiceField(source="status", choices=ProductStatus.choices, read_only=True)
    live_revision = serializers.IntegerField(source="live_revision.number", allow_null=True, default=None)
    latest = serializers.SerializerMethodField()

    class Meta:
        model = Product
        fields = ["slug", "name", "catalog_status", "live_revision", "latest", "created_at"]

    @extend_schema_field(
        {"type": "object", "properties": {"number": {"type": "integer"}, "state": {"type": "string"}}}
    )
    def get_latest(self, product: Product) -> dict[str, Any] | None:
        latest = getattr(product, "latest", None)
        return {"number": latest.number, "state": latest.state} if latest else None


class PublisherProductDetailSerializer(PublisherProductSerializer):
    revision = RevisionSerializer(source="latest")
    missing = serializers.ListField(child=serializers.CharField(), help_text="What stops submission.")

    class Meta(PublisherProductSerializer.Meta):
        fields = [*PublisherProductSerializer.Meta.fields, "revision", "missing"]


class ProductCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    slug = serializers.SlugField(max_length=60, required=False, default="")


class MessageSerializer(serializers.Serializer):
    message = serializers.CharField(required=False, allow_blank=True, default="")


class QueueSerializer(serializers.ModelSerializer):
    publisher = serializers.CharField(source="product.publisher.namespace")
    product = serializers.CharField(source="product.slug")
    category: serializers.SlugRelatedField[Category] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True
    )

    class Meta:
        model = Revision
        fields = ["id", "publisher", "product", "number", "name", "state", "category", "submitted_at"]


# ---------------------------------------------------------------------------------------------
# Public catalog


ORDERING = [("relevance", "Relevance"), ("newest", "Newest"), ("name", "Name")]


class CatalogFilter(django_filters.FilterSet):
    search = django_filters.CharFilter(method="filter_search", help_text="Words to search for.")
    category = django_filters.CharFilter(field_name="category__slug", help_text="Category slug.")
    kind = django_filters.ChoiceFilter(choices=Kind.choices)
    pricing = django_filters.ChoiceFilter(
        field_name="distribution", choices=[("free", "Free"), ("paid", "Paid")]
    )
    certified = django_filters.BooleanFilter(field_name="is_certified")
    publisher = django_filters.CharFilter(field_name="publisher__namespace", help_text="Publisher namespace.")
    ordering = django_filters.ChoiceFilter(
        choices=ORDERING,
        method="filter_ordering",
        help_text="Relevance (default with search), newest or name.",
    )

    class Meta:
        model = Product
        fields: list[str] = []

    def filter_search(self, queryset: QuerySet[Product], name: str, value: str) -> QuerySet[Product]:
        return selectors.apply_search(queryset, value)

    def filter_ordering(self, queryset: QuerySet[Product], name: str, value: str) -> QuerySet[Product]:
        return queryset  # applied last, in filter_queryset, once the search annotation exists

    def filter_queryset(self, queryset: QuerySet[Product]) -> QuerySet[Product]:
        queryset = super().filter_queryset(queryset)
        ordering = self.form.cleaned_data.get("ordering") or (
            "relevance" if self.form.cleaned_data.get("search") else "newest"
        )
        if ordering == "relevance" and "relevance" in queryset.query.annotations:
            return queryset.order_by(F("relevance").desc(), "name", "id")
        if ordering == "name":
            return queryset.order_by("name", "id")
        return queryset.order_by("-first_published_at", "-id")


class CatalogList(generics.ListAPIView):
    """The public catalog: published products, best match first when searching."""

    permission_classes = [permissions.AllowAny]
    serializer_class = ProductCardSerializer
    filterset_class = CatalogFilter

    def get_queryset(self) -> QuerySet[Product]:
        return selectors._for_cards(selectors.catalog())

    @extend_schema(summary="Search the catalog", tags=["catalog"])
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class CatalogDetail(APIView):
    permission_classes = [permissions.AllowAny]

    @extend_schema(summary="One published product", tags=["catalog"], responses=ProductDetailSerializer)
    def get(self, request: Request, publisher: str, slug: str) -> Response:
        product = selectors.get_public_product(publisher, slug)
        return Response(ProductDetailSerializer(product).data)


# ---------------------------------------------------------------------------------------------
# Publishers' products


def _detail(product: Product) -> dict[str, Any]:
    latest = selectors.latest_revision(product)
    product.latest = latest  # type: ignore[attr-defined]
    product.missing = services.missing_items(latest) if latest.state in ("draft", "changes_requested") else []  # type: ignore[attr-defined]
    return cast(dict[str, Any], PublisherProductDetailSerializer(product).data)


class PublisherProducts(APIView):
    permission_classes = MEMBER

    @extend_schema(
        summary="A publisher's products",
        tags=["publisher products"],
        responses=PublisherProductSerializer(many=True),
    )
    def get(self, request: Request, namespace: str) -> Response:
        publisher = get_publisher_for_member(request.user, namespace)
        products = selectors.products_for_publisher(publisher)
        return Response(PublisherProductSerializer(products, many=True).data)

    @extend_schema(
        summary="Create a product (editors and above)",
        tags=["publisher products"],
        request=ProductCreateSerializer,
        responses={201: PublisherProductDetailSerializer},
    )
    def post(self, request: Request, namespace: str) -> Response:
        publisher = get_publisher_for_member(request.user, namespace, min_role=Role.EDITOR)
        data = ProductCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        product = services.product_create(actor=_actor(request), publisher=publisher, **data.validated_data)
        return Response(_detail(product), status=status.HTTP_201_CREATED)


class PublisherProduct(APIView):
    permission_classes = MEMBER

    @extend_schema(
        summary="A product with its newest revision",
        tags=["publisher products"],
        responses=PublisherProductDetailSerializer,
    )
    def get(self, request: Request, namespace: str, slug: str) -> Response:
        product = selectors.get_product_for_member(request.user, namespace, slug)
        return Response(_detail(product))

    @extend_schema(
        summary="Edit the draft's manifest",
        description="Changes go to the draft, made from the newest revision when none is open. "
        "Refused while a revision is in review.",
        tags=["publisher products"],
        request=RevisionInputSerializer,
        responses=PublisherProductDetailSerializer,
    )
    def patch(self, request: Request, namespace: str, slug: str) -> Response:
        product = selectors.get_product_for_member(request.user, namespace, slug, write=True)
        data = RevisionInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        services.revision_save(actor=_actor(request), product=product, changes=dict(data.validated_data))
        return Response(_detail(product))


class ProductSubmit(APIView):
    permission_classes = MEMBER

    @extend_schema(
        summary="Submit the draft for review",
        description="Refused with every missing item listed when the manifest is incomplete.",
        tags=["publisher products"],
        request=MessageSerializer,
        responses=PublisherProductDetailSerializer,
    )
    def post(self, request: Request, namespace: str, slug: str) -> Response:
        product = selectors.get_product_for_member(request.user, namespace, slug, write=True)
        data = MessageSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.revision_submit(
            actor=_actor(request), product=product, message=data.validated_data["message"]
        )
        return Response(_detail(product))


class ProductUnpublish(APIView):
    permission_classes = MEMBER

    @extend_schema(
        summary="Take the product out of the catalog",
        tags=["publisher products"],
        request=MessageSerializer,
        responses=PublisherProductDetailSerializer,
    )
    def post(self, request: Request, namespace: str, slug: str) -> Response:
        product = selectors.get_product_for_member(request.user, namespace, slug, write=True)
        data = MessageSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        product = services.product_unpublish(
            actor=_actor(request), product=product, reason=data.validated_data["message"]
        )
        return Response(_detail(product))


class ProductTiers(APIView):
    permission_classes = MEMBER

    @extend_schema(
        summary="Tiers of the newest revision",
        tags=["publisher products"],
        responses=PublisherTierSerializer(many=True),
    )
    def get(self, request: Request, namespace: str, slug: str) -> Response:
        product = selectors.get_product_for_member(request.user, namespace, slug)
        tiers = selectors.latest_revision(product).tiers.order_by("position", "id")
        return Response(PublisherTierSerializer(tiers, many=True).data)

    @extend_schema(
        summary="Add a tier to the draft",
        tags=["publisher products"],
        request=TierInputSerializer,
        responses={201: PublisherTierSerializer},
    )
    def post(self, request: Request, namespace: str, slug: str) -> Response:
        product = selectors.get_product_for_member(request.user, namespace, slug, write=True)
        data = TierInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        tier = services.tier_create(actor=_actor(request), product=product, data=dict(data.validated_data))
        return Response(PublisherTierSerializer(tier).data, status=status.HTTP_201_CREATED)


class ProductTier(APIView):
    permission_classes = MEMBER

    def _tier(self, product: Product, key: Any) -> Tier:
        tier = selectors.latest_revision(product).tiers.filter(key=key).first()
        if tier is None:
            from django.http import Http404

            raise Http404("No such tier.")
        return tier

    @extend_schema(
        summary="One tier of the newest revision",
        tags=["publisher products"],
        responses=PublisherTierSerializer,
    )
    def get(self, request: Request, namespace: str, slug: str, key: Any) -> Response:
        product = selectors.get_product_for_member(request.user, namespace, slug)
        return Response(PublisherTierSerializer(self._tier(product, key)).data)

    @extend_schema(
        summary="Change a tier in the draft",
        tags=["publisher products"],
        request=TierInputSerializer,
        responses=PublisherTierSerializer,
    )
    def patch(self, request: Request, namespace: str, slug: str, key: Any) -> Response:
        product = selectors.get_product_for_member(request.user, namespace, slug, write=True)
        self._tier(product, key)
        data = TierInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        tier = services.tier_update(
            actor=_actor(request), product=product, key=key, data=dict(data.validated_data)
        )
        return Response(PublisherTierSerializer(tier).data)

    @extend_schema(
        summary="Remove a tier from the draft",
        tags=["publisher products"],
        responses={204: OpenApiResponse(description="Removed.")},
    )
    def delete(self, request: Request, namespace: str, slug: str, key: Any) -> Response:
        product = selectors.get_product_for_member(request.user, namespace, slug, write=True)
        self._tier(product, key)
        services.tier_delete(actor=_actor(request), product=product, key=key)
        return Response(status=status.HTTP_204_NO_CONTENT)


# ---------------------------------------------------------------------------------------------
# Moderation


class CanModerate(permissions.BasePermission):
    message = "Only the store's moderators can do this."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return bool(
            user and user.is_authenticated and user.is_staff and user.has_perm("listings.moderate_revision")
        )


MODERATOR = [permissions.IsAuthenticated, TokenScopePermission, CanModerate]


class ReviewQueue(generics.ListAPIView):
    """Revisions waiting for a decision, oldest first."""

    permission_classes = MODERATOR
    serializer_class = QueueSerializer
    filter_backends: list[Any] = []

    def get_queryset(self) -> QuerySet[Revision]:
        return selectors.review_queue()

    @extend_schema(summary="The review queue", tags=["moderation"])
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class Decision(APIView):
    permission_classes = MODERATOR
    decision = ""

    def post(self, request: Request, revision_id: int) -> Response:
        revision = generics.get_object_or_404(
            Revision.objects.select_related("product__publisher"), pk=revision_id
        )
        data = MessageSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        service = {
            "approve": services.revision_approve,
            "request_changes": services.revision_request_changes,
            "reject": services.revision_reject,
        }[self.decision]
        revision = service(actor=_actor(request), revision=revision, message=data.validated_data["message"])
        revision = Revision.objects.select_related("product__publisher", "category").get(pk=revision.pk)
        return Response(QueueSerializer(revision).data)


class Approve(Decision):
    decision = "approve"

    @extend_schema(
        summary="Approve: the revision goes live",
        tags=["moderation"],
        request=MessageSerializer,
        responses=QueueSerializer,
    )
    def post(self, request: Request, revision_id: int) -> Response:
        return super().post(request, revision_id)


class RequestChanges(Decision):
    decision = "request_changes"

    @extend_schema(
        summary="Send the revision back with a message (required)",
        tags=["moderation"],
        request=MessageSerializer,
        responses=QueueSerializer,
    )
    def post(self, request: Request, revision_id: int) -> Response:
        return super().post(request, revision_id)


class Reject(Decision):
    decision = "reject"

    @extend_schema(
        summary="Reject the revision with a message (required)",
        tags=["moderation"],
        request=MessageSerializer,
        responses=QueueSerializer,
    )
    def post(self, request: Request, revision_id: int) -> Response:
        return super().post(request, revision_id)


product_path = "publishers/<str:namespace>/products/<slug:slug>/"

urlpatterns = [
    path("products/", CatalogList.as_view(), name="api-catalog"),
    path("products/<str:publisher>/<slug:slug>/", CatalogDetail.as_view(), name="api-catalog-product"),
    path("publishers/<str:namespace>/products/", PublisherProducts.as_view(), name="api-publisher-products"),
    path(product_path, PublisherProduct.as_view(), name="api-publisher-product"),
    path(f"{product_path}submit/", ProductSubmit.as_view(), name="api-product-submit"),
    path(f"{product_path}unpublish/", ProductUnpublish.as_view(), name="api-product-unpublish"),
    path(f"{product_path}tiers/", ProductTiers.as_view(), name="api-product-tiers"),
    path(f"{product_path}tiers/<uuid:key>/", ProductTier.as_view(), name="api-product-tier"),
    path("moderation/queue/", ReviewQueue.as_view(), name="api-review-queue"),
    path(
        "moderation/revisions/<int:revision_id>/approve/",
        Approve.as_view(),
        name="api-revision-approve",
    ),
    path(
        "moderation/revisions/<int:revision_id>/request-changes/",
        RequestChanges.as_view(),
        name="api-revision-request-changes",
    ),
    path(
        "moderation/revisions/<int:revision_id>/reject/",
        Reject.as_view(),
        name="api-revision-reject",
    ),
]

"""The listings API: the public catalog, publishers' products and tiers, and moderation for staff.

Views stay thin: a scoped lookup, an input serializer, one service call, an output serializer.
"""

from __future__ import annotations

from typing import Any, cast

import django_filters
from django.db.models import QuerySet
from django.urls import path
from django_filters.rest_framework import DjangoFilterBackend
from django_filters.utils import translate_validation
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
from store.api import Pagination

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
        slug_field="slug", read_only=True, allow_null=True
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
        slug_field="slug", read_only=True, allow_null=True
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
        slug_field="slug", read_only=True, allow_null=True
    )

    class Meta:
        model = Revision
        fields = ["id", "publisher", "product", "number", "name", "state", "category", "submitted_at"]


# ---------------------------------------------------------------------------------------------
# Public catalog


ORDERING = [("relevance", "Relevance"), ("newest", "Newest"), ("name", "Name")]


class CatalogFilter(django_filters.FilterSet):
    """The catalog's query parameters: validated (and described in the schema) here, searched by
    ``selectors.search`` as a whole, the search page's bounded search (see ``CatalogList``)."""

    search = django_filters.CharFilter(method="_text", help_text="Words to search for.")
    category = django_filters.CharFilter(method="_text", help_text="Category slug.")
    kind = django_filters.ChoiceFilter(method="_text", choices=Kind.choices)
    pricing = django_filters.ChoiceFilter(method="_text", choices=[("free", "Free"), ("paid", "Paid")])
    certified = django_filters.BooleanFilter(
        method="_flag", help_text="true: certified products only; false: uncertified only."
    )
    publisher = django_filters.CharFilter(method="_text", help_text="Publisher namespace.")
    ordering = django_filters.ChoiceFilter(
        choices=ORDERING,
        method="_text",
        help_text="Relevance (default with search), newest (default without) or name.",
    )

    class Meta:
        model = Product
        fields: list[str] = []

    # Never called: CatalogList hands search_params() to selectors.search. Typed for the schema.
    def _text(self, queryset: QuerySet[Product], name: str, value: str) -> QuerySet[Product]:
        raise NotImplementedError("The catalog is searched by selectors.search(filterset.search_params()).")

    def _flag(self, queryset: QuerySet[Product], name: str, value: bool) -> QuerySet[Product]:
        raise NotImplementedError("The catalog is searched by selectors.search(filterset.search_params()).")

    def search_params(self) -> selectors.SearchParams:
        """The validated parameters as the search page's ``SearchParams``."""
        data = self.form.cleaned_data
        q = (data.get("search") or "").strip()[:200]
        ordering = data.get("ordering") or "relevance"
        if ordering == "relevance" and not selectors.search_terms(q):
            ordering = "newest"  # nothing to rank by
        return selectors.SearchParams(
            q=q,
            category=data.get("category") or "",
            kind=data.get("kind") or "",
            pricing=data.get("pricing") or "",
            certified=data.get("certified"),
            publisher=data.get("publisher") or "",
            sort=ordering,
        )


class CatalogPagination(Pagination):
    """Pages of a search whose count stops at ``selectors.RESULT_CAP``.

    Counting every match of a broad search would cost as much as the catalog is big, so ``count``
    is at most the cap and ``count_is_capped`` says more products match; the pages hold the best
    ``count`` of them (narrow the search or add a filter to reach the rest). Sorted by relevance, a
    broad search ranks a bounded set of candidates (``selectors._candidates``) and pages through
    those, so its ``count`` may be lower than the cap.
    """

    count_is_capped = False

    def paginate_queryset(self, queryset: Any, request: Request, view: Any = None) -> list[Any] | None:
        self.count_is_capped = bool(getattr(queryset, "capped", False))
        return super().paginate_queryset(queryset, request, view)

    def get_paginated_response(self, data: Any) -> Response:
        response = super().get_paginated_response(data)
        response.data["count_is_capped"] = self.count_is_capped
        return response

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        paginated = super().get_paginated_response_schema(schema)
        paginated["required"] = [*paginated.get("required", []), "count_is_capped"]
        properties = paginated["properties"]
        properties["count"] = {
            **properties["count"],
            "description": f"How many products are paged through: every match, up to "
            f"{selectors.RESULT_CAP:,}. When count_is_capped, the best ones: a broad search sorted by "
            "relevance pages through the few hundred it ranks.",
        }
        properties["count_is_capped"] = {
            "type": "boolean",
            "example": False,
            "description": f"True when more than {selectors.RESULT_CAP:,} products match: count is "
            "then how many are paged through, not how many match. Add words or filters to narrow "
            "the search.",
        }
        return paginated


class CatalogList(generics.ListAPIView):
    """The public catalog: published products, best match first when searching.

    The same bounded search as the search page (``selectors.search``): counts stop at the cap and
    a broad search ranks a bounded set of candidates, so a page costs the same few queries
    whatever the catalog's size.
    """

    permission_classes = [permissions.AllowAny]
    serializer_class = ProductCardSerializer
    filterset_class = CatalogFilter
    pagination_class = CatalogPagination

    def get_queryset(self) -> QuerySet[Product]:
        return selectors.catalog()

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        filterset = DjangoFilterBackend().get_filterset(request, self.get_queryset(), self)
        assert isinstance(filterset, CatalogFilter)
        if not filterset.is_valid():
            raise translate_validation(filterset.errors)
        result = selectors.search(filterset.search_params())
        page = self.paginate_queryset(result.products)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(
        summary="Search the catalog",
        description=f"At most the best {selectors.RESULT_CAP:,} matches are paged through; "
        "`count_is_capped` says when more match.",
        tags=["catalog"],
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class CatalogDetail(APIView):
    permission_classes = [permissions.AllowAny]

    @extend_schema(summary="One published product", tags=["catalog"], responses=ProductDetailSerializer)
    def get(self, request: Request, publisher: str, slug: str) -> Response:
        product = selectors.get_public_product(publisher, slug)
        return Response(ProductDetailSerializer(product, context={"request": request}).data)


# ---------------------------------------------------------------------------------------------
# Publishers' products


def _detail(request: Request, product: Product) -> dict[str, Any]:
    latest = selectors.latest_revision(product)
    product.latest = latest  # type: ignore[attr-defined]
    product.missing = services.missing_items(latest) if latest.state in ("draft", "changes_requested") else []  # type: ignore[attr-defined]
    return cast(dict[str, Any], PublisherProductDetailSerializer(product, context={"request": request}).data)


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
        return Response(_detail(request, product), status=status.HTTP_201_CREATED)


class PublisherProduct(APIView):
    permission_classes = MEMBER

    @extend_schema(
        summary="A product with its newest revision",
        tags=["publisher products"],
        responses=PublisherProductDetailSerializer,
    )
    def get(self, request: Request, namespace: str, slug: str) -> Response:
        product = selectors.get_product_for_member(request.user, namespace, slug)
        return Response(_detail(request, product))

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
        return Response(_detail(request, product))


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
        return Response(_detail(request, product))


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
        return Response(_detail(request, product))


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

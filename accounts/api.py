"""The API of accounts: the current user (``/me/``) and their personal access tokens."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.urls import path
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import generics, mixins, serializers, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from accounts import selectors, services
from accounts.models import AccessToken, Scope, TokenStatus, User
from publishers.models import Membership, Role


def _user(request: Request) -> User:
    assert isinstance(request.user, User)
    return request.user


class MembershipSerializer(serializers.ModelSerializer[Membership]):
    namespace = serializers.CharField(source="publisher.namespace", read_only=True)
    role = serializers.ChoiceField(choices=Role.choices, read_only=True)

    class Meta:
        model = Membership
        fields = ["namespace", "role"]


class MeSerializer(serializers.ModelSerializer[User]):
    email_verified = serializers.BooleanField(read_only=True)
    publishers = MembershipSerializer(source="memberships", many=True, read_only=True)

    class Meta:
        model = User
        fields = ["id", "email", "full_name", "email_verified", "date_joined", "publishers"]
        read_only_fields = ["id", "email", "date_joined"]

    def update(self, instance: User, validated_data: dict[str, Any]) -> User:
        return services.user_profile_update(
            user=instance, full_name=validated_data.get("full_name", instance.full_name)
        )


@extend_schema(tags=["account"])
class MeView(generics.RetrieveUpdateAPIView[User]):
    """The person the request is authenticated as, and the publishers they belong to."""

    serializer_class = MeSerializer
    http_method_names = ["get", "patch", "head", "options"]

    def get_object(self) -> User:
        return selectors.user_with_memberships(user=_user(self.request))


class AccessTokenSerializer(serializers.ModelSerializer[AccessToken]):
    status = serializers.ChoiceField(choices=TokenStatus.choices, read_only=True)
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=Scope.choices))

    class Meta:
        model = AccessToken
        fields = [
            "id",
            "name",
            "prefix",
            "scopes",
            "status",
            "created_at",
            "expires_at",
            "last_used_at",
            "revoked_at",
        ]
        read_only_fields = fields


class AccessTokenCreateSerializer(serializers.Serializer[AccessToken]):
    name = serializers.CharField(max_length=100)
    scopes = serializers.MultipleChoiceField(
        choices=Scope.choices,
        allow_empty=False,
        default=lambda: {Scope.READ.value},
        error_messages={"empty": "Choose at least one scope."},
        help_text="At least one of read, write, registry. Default: read.",
    )
    expires_at = serializers.DateTimeField(
        required=False, allow_null=True, help_text="Optional; must be in the future. Null: never expires."
    )

    def validate_scopes(self, scopes: set[str]) -> set[str]:
        # A token may only mint tokens with scopes it holds itself, or a leaked read/write token
        # could turn itself into a registry token that outlives it.
        token = self.context["request"].auth
        if isinstance(token, AccessToken):
            beyond = [scope for scope in scopes if not token.has_scope(scope)]
            if beyond:
                raise serializers.ValidationError(
                    f"This access token cannot grant scopes it lacks: {', '.join(beyond)}."
                )
        return scopes


class AccessTokenCreatedSerializer(AccessTokenSerializer):
    token = serializers.CharField(read_only=True, help_text="The token itself. Shown this once only.")

    class Meta(AccessTokenSerializer.Meta):
        fields = [*AccessTokenSerializer.Meta.fields, "token"]
        read_only_fields = fields


@extend_schema_view(
    list=extend_schema(summary="Your access tokens, newest first (revoked ones included)"),
    retrieve=extend_schema(summary="One of your access tokens"),
    create=extend_schema(
        summary="Create an access token",
        request=AccessTokenCreateSerializer,
        responses={201: AccessTokenCreatedSerializer},
    ),
    destroy=extend_schema(
        summary="Revoke an access token",
        description="The token stops working at once. It stays listed, with status “revoked”.",
        responses={204: OpenApiResponse(description="Revoked (or already revoked).")},
    ),
)
@extend_schema(tags=["account"])
class AccessTokenViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet[AccessToken],
):
    """Personal access tokens of the current user; anyone else's token answers 404."""

    serializer_class = AccessTokenSerializer
    lookup_value_regex = r"\d+"

    def get_queryset(self) -> QuerySet[AccessToken]:
        if getattr(self, "swagger_fake_view", False):  # the schema generator has no user
            return AccessToken.objects.none()
        return selectors.access_tokens_for_user(user=_user(self.request))

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        user = _user(request)
        serializer = AccessTokenCreateSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        token, raw = services.access_token_create(user=user, actor=user, **serializer.validated_data)
        token.token = raw  # type: ignore[attr-defined]
        return Response(AccessTokenCreatedSerializer(token).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance: AccessToken) -> None:
        services.access_token_revoke(token=instance, actor=_user(self.request))


router = SimpleRouter()
router.register("tokens", AccessTokenViewSet, basename="accesstoken")

urlpatterns = [
    path("me/", MeView.as_view(), name="me"),
    *router.urls,
]

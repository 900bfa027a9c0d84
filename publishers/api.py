"""The publishers API: my publishers, their profile, members and invitations.

Every publisher-scoped endpoint looks the publisher up with ``get_publisher_for_member``: outsiders
get 404, members below the role an endpoint needs get 403. Input serializers hand validated data
to ``publishers.services``, which check the business rules and write.
"""

from __future__ import annotations

from typing import Any

from django.db.models import OuterRef, QuerySet, Subquery
from django.urls import path
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import User
from publishers import selectors, services
from publishers.models import Invitation, Membership, Publisher, Role
from publishers.selectors import get_publisher_for_member
from publishers.validators import LOGO_MIN_SIZE, check_image, normalize_phone, validate_namespace
from store.api import error_responses


def _user(request: Request) -> User:
    assert isinstance(request.user, User)
    return request.user


def _errors(*codes: int) -> dict[int, OpenApiResponse]:
    described = {
        400: "Invalid input; `fields` says what is wrong with each field.",
        403: "Your role in this publisher is not high enough.",
        404: "No such publisher, or you are not a member of it.",
    }
    return error_responses({code: described[code] for code in codes})


# --- serializers ---------------------------------------------------------------------------------


class LogoField(serializers.FileField):
    """A logo upload checked by ``check_image``, keeping its specific reason on failure."""

    def to_internal_value(self, data: Any) -> Any:
        file = super().to_internal_value(data)
        check_image(file, min_size=LOGO_MIN_SIZE, square=True)
        return file


class PublisherSerializer(serializers.ModelSerializer[Publisher]):
    role = serializers.SerializerMethodField(help_text="Your role in this publisher.")
    logo = serializers.ImageField(read_only=True, use_url=True)
    self_help_links = serializers.ListField(
        source="self_help_link_list", child=serializers.URLField(), read_only=True
    )

    class Meta:
        model = Publisher
        fields = [
            "namespace",
            "legal_name",
            "website",
            "phone",
            "company_email",
            "logo",
            "story",
            "support_website",
            "support_email",
            "self_help_links",
            "support_hours",
            "response_times",
            "onboarding_completed_at",
            "created_at",
            "role",
        ]
        read_only_fields = fields

    def get_role(self, publisher: Publisher) -> str | None:
        membership = getattr(publisher, "membership", None)
        return membership.role if membership is not None else getattr(publisher, "my_role", None)


class _PublisherInputSerializer(serializers.ModelSerializer[Publisher]):
    logo = LogoField(help_text=f"Square PNG, JPEG or WebP, at least {LOGO_MIN_SIZE}x{LOGO_MIN_SIZE} pixels.")
    self_help_links = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="One URL per line.",
        style={"base_template": "textarea.html"},
    )

    def validate_phone(self, value: str) -> str:
        return normalize_phone(value)


class PublisherCreateSerializer(_PublisherInputSerializer):
    class Meta:
        model = Publisher
        fields = ["namespace", *services.PROFILE_FIELDS, *services.SUPPORT_FIELDS]
        # The service answers "taken" with a specific message; the default unique check would not.
        extra_kwargs = {"namespace": {"validators": [validate_namespace]}}

    def create(self, validated_data: dict[str, Any]) -> Publisher:
        return services.publisher_create(actor=_user(self.context["request"]), **validated_data)


class PublisherUpdateSerializer(_PublisherInputSerializer):
    logo = LogoField(required=False, help_text="A new logo; same checks as on creation.")

    class Meta:
        model = Publisher
        fields = [*services.PROFILE_FIELDS, *services.SUPPORT_FIELDS]

    def update(self, instance: Publisher, validated_data: dict[str, Any]) -> Publisher:
        return services.publisher_update_profile(
            publisher=instance, actor=_user(self.context["request"]), **validated_data
        )


class MemberUserSerializer(serializers.ModelSerializer[User]):
    class Meta:
        model = User
        fields = ["id", "email", "full_name"]
        read_only_fields = fields


class MemberSerializer(serializers.ModelSerializer[Membership]):
    user = MemberUserSerializer(read_only=True)
    role = serializers.ChoiceField(choices=Role.choices)

    class Meta:
        model = Membership
        fields = ["id", "user", "role", "created_at"]
        read_only_fields = ["id", "user", "created_at"]

    def update(self, instance: Membership, validated_data: dict[str, Any]) -> Membership:
        return services.member_change_role(
            membership=instance, actor=_user(self.context["request"]), role=Role(validated_data["role"])
        )


class InvitationSerializer(serializers.ModelSerializer[Invitation]):
    role = serializers.ChoiceField(choices=Role.choices)
    invited_by = serializers.EmailField(source="invited_by.email", read_only=True, allow_null=True)

    class Meta:
        model = Invitation
        fields = ["id", "email", "role", "invited_by", "created_at", "expires_at"]
        read_only_fields = ["id", "invited_by", "created_at", "expires_at"]

    def create(self, validated_data: dict[str, Any]) -> Invitation:
        invitation, _token = services.member_invite(
            publisher=self.context["publisher"],
            actor=_user(self.context["request"]),
            email=validated_data["email"],
            role=Role(validated_data["role"]),
        )
        return invitation


class InvitationAcceptSerializer(serializers.Serializer[Membership]):
    token = serializers.CharField(help_text="The token from the accept link in the invitation email.")

    def create(self, validated_data: dict[str, Any]) -> Membership:
        return services.invitation_accept(token=validated_data["token"], user=_user(self.context["request"]))


class JoinedSerializer(serializers.ModelSerializer[Membership]):
    namespace = serializers.CharField(source="publisher.namespace", read_only=True)
    role = serializers.ChoiceField(choices=Role.choices, read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "namespace", "role", "created_at"]
        read_only_fields = fields


# --- views ---------------------------------------------------------------------------------------

UPLOAD_PARSERS = [JSONParser, MultiPartParser, FormParser]


class PublisherListView(generics.GenericAPIView[Publisher]):
    serializer_class = PublisherSerializer
    parser_classes = UPLOAD_PARSERS

    def get_queryset(self) -> QuerySet[Publisher]:
        if getattr(self, "swagger_fake_view", False):  # drf-spectacular inspecting the view
            return Publisher.objects.none()
        user = _user(self.request)
        my_role = Membership.objects.filter(publisher=OuterRef("pk"), user=user).values("role")[:1]
        return selectors.publishers_for_user(user).annotate(my_role=Subquery(my_role))

    @extend_schema(
        summary="The publishers you belong to", tags=["publishers"], responses=PublisherSerializer(many=True)
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(
            PublisherSerializer(page, many=True, context={"request": request}).data
        )

    @extend_schema(
        summary="Create a publisher (you become its owner)",
        tags=["publishers"],
        request={"multipart/form-data": PublisherCreateSerializer},
        responses={201: PublisherSerializer, **_errors(400)},
    )
    def post(self, request: Request) -> Response:
        serializer = PublisherCreateSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        publisher = serializer.save()
        publisher.my_role = Role.OWNER.value  # type: ignore[attr-defined]
        return Response(PublisherSerializer(publisher, context={"request": request}).data, status=201)


class PublisherDetailView(generics.GenericAPIView[Publisher]):
    queryset = Publisher.objects.none()  # the scoped lookup does the work; this names the model
    serializer_class = PublisherSerializer
    parser_classes = UPLOAD_PARSERS

    @extend_schema(
        summary="One of your publishers (viewer or higher)",
        tags=["publishers"],
        responses={200: PublisherSerializer, **_errors(404)},
    )
    def get(self, request: Request, namespace: str) -> Response:
        publisher = get_publisher_for_member(request.user, namespace)
        return Response(PublisherSerializer(publisher, context={"request": request}).data)

    @extend_schema(
        summary="Change the profile (admin or owner)",
        tags=["publishers"],
        request={
            "multipart/form-data": PublisherUpdateSerializer,
            "application/json": PublisherUpdateSerializer,
        },
        responses={200: PublisherSerializer, **_errors(400, 403, 404)},
    )
    def patch(self, request: Request, namespace: str) -> Response:
        publisher = get_publisher_for_member(request.user, namespace, min_role=Role.ADMIN)
        serializer = PublisherUpdateSerializer(
            publisher, data=request.data, partial=True, context={"request": request}
        )
        serializer.is_valid(raise_exception=True)
        updated = serializer.save()
        updated.membership = publisher.membership  # type: ignore[attr-defined]
        return Response(PublisherSerializer(updated, context={"request": request}).data)


class MemberListView(generics.GenericAPIView[Membership]):
    queryset = Membership.objects.none()  # the scoped lookup does the work; this names the model
    serializer_class = MemberSerializer

    @extend_schema(
        summary="Members of a publisher",
        tags=["publishers"],
        responses={200: MemberSerializer(many=True), **_errors(404)},
    )
    def get(self, request: Request, namespace: str) -> Response:
        publisher = get_publisher_for_member(request.user, namespace)
        page = self.paginate_queryset(selectors.memberships_of(publisher))
        return self.get_paginated_response(MemberSerializer(page, many=True).data)


class MemberDetailView(generics.GenericAPIView[Membership]):
    queryset = Membership.objects.none()  # the scoped lookup does the work; this names the model
    serializer_class = MemberSerializer

    @extend_schema(
        summary="Change a member's role (admin or owner; only owners make or unmake owners)",
        tags=["publishers"],
        responses={200: MemberSerializer, **_errors(400, 403, 404)},
    )
    def patch(self, request: Request, namespace: str, membership_id: int) -> Response:
        publisher = get_publisher_for_member(request.user, namespace, min_role=Role.ADMIN)
        membership = selectors.get_membership(publisher, membership_id)
        serializer = MemberSerializer(membership, data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        return Response(MemberSerializer(serializer.save()).data)

    @extend_schema(
        summary="Remove a member (admin or owner; never the last owner)",
        tags=["publishers"],
        responses={204: OpenApiResponse(description="Removed."), **_errors(400, 403, 404)},
    )
    def delete(self, request: Request, namespace: str, membership_id: int) -> Response:
        publisher = get_publisher_for_member(request.user, namespace, min_role=Role.ADMIN)
        membership = selectors.get_membership(publisher, membership_id)
        services.member_remove(membership=membership, actor=_user(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class InvitationListView(generics.GenericAPIView[Invitation]):
    queryset = Invitation.objects.none()  # the scoped lookup does the work; this names the model
    serializer_class = InvitationSerializer

    @extend_schema(
        summary="Pending invitations of a publisher",
        tags=["publishers"],
        responses={200: InvitationSerializer(many=True), **_errors(404)},
    )
    def get(self, request: Request, namespace: str) -> Response:
        publisher = get_publisher_for_member(request.user, namespace)
        page = self.paginate_queryset(selectors.pending_invitations_of(publisher))
        return self.get_paginated_response(InvitationSerializer(page, many=True).data)

    @extend_schema(
        summary="Invite someone by email (admin or owner; only owners invite owners)",
        tags=["publishers"],
        responses={201: InvitationSerializer, **_errors(400, 403, 404)},
    )
    def post(self, request: Request, namespace: str) -> Response:
        publisher = get_publisher_for_member(request.user, namespace, min_role=Role.ADMIN)
        serializer = InvitationSerializer(
            data=request.data, context={"request": request, "publisher": publisher}
        )
        serializer.is_valid(raise_exception=True)
        return Response(InvitationSerializer(serializer.save()).data, status=201)


class InvitationDetailView(generics.GenericAPIView[Invitation]):
    queryset = Invitation.objects.none()  # the scoped lookup does the work; this names the model
    serializer_class = InvitationSerializer

    @extend_schema(
        summary="Revoke a pending invitation (admin or owner)",
        tags=["publishers"],
        responses={
            204: OpenApiResponse(description="Revoked; the link no longer works."),
            **_errors(403, 404),
        },
    )
    def delete(self, request: Request, namespace: str, invitation_id: int) -> Response:
        publisher = get_publisher_for_member(request.user, namespace, min_role=Role.ADMIN)
        invitation = selectors.get_pending_invitation(publisher, invitation_id)
        services.invitation_revoke(invitation=invitation, actor=_user(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class InvitationAcceptView(generics.GenericAPIView[Membership]):
    serializer_class = InvitationAcceptSerializer

    @extend_schema(
        summary="Accept an invitation sent to your email address",
        tags=["publishers"],
        request=InvitationAcceptSerializer,
        responses={201: JoinedSerializer, **_errors(400)},
    )
    def post(self, request: Request) -> Response:
        serializer = InvitationAcceptSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        return Response(JoinedSerializer(serializer.save()).data, status=201)


urlpatterns = [
    path("publishers/", PublisherListView.as_view(), name="api-publishers"),
    path("publishers/<str:namespace>/", PublisherDetailView.as_view(), name="api-publisher"),
    path("publishers/<str:namespace>/members/", MemberListView.as_view(), name="api-publisher-members"),
    path(
        "publishers/<str:namespace>/members/<int:membership_id>/",
        MemberDetailView.as_view(),
        name="api-publisher-member",
    ),
    path(
        "publishers/<str:namespace>/invitations/",
        InvitationListView.as_view(),
        name="api-publisher-invitations",
    ),
    path(
        "publishers/<str:namespace>/invitations/<int:invitation_id>/",
        InvitationDetailView.as_view(),
        name="api-publisher-invitation",
    ),
    path("invitations/accept/", InvitationAcceptView.as_view(), name="api-invitation-accept"),
]

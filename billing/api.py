"""The billing API: buy or accept a tier, list and cancel one's licences.

``{id}`` of a tier is the id of the Tier row in the product's live revision, as the catalog API
lists it.
"""

from __future__ import annotations

from typing import Any, cast

from django.conf import settings
from django.urls import path
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import exceptions, generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from billing import gateway, selectors, services
from billing.models import Licence, LicenceSource, LicenceStatus
from listings.models import Tier
from store.api import error_responses


class PaymentNotConfigured(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "payment_not_configured"
    default_detail = "Payment is not configured on this store: paid tiers cannot be bought yet."


class PaymentUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "payment_unavailable"
    default_detail = "Stripe did not answer; nothing was charged. Try again in a minute."


def _gateway_error(exc: gateway.GatewayError) -> exceptions.APIException:
    if isinstance(exc, gateway.NotConfigured):
        return PaymentNotConfigured()
    return PaymentUnavailable(detail=exc.message)


def _actor(request: Request) -> User:
    return cast(User, request.user)


def _inline_enum(choices: Any) -> dict[str, Any]:
    # Values listed in the description, not as an enum: drf-spectacular would name the enum
    # "StatusEnum" and collide with other apps' status fields (access tokens have active/expired).
    return {
        "type": "string",
        "description": "One of: " + "; ".join(f"`{value}` ({label})" for value, label in choices),
    }


@extend_schema_field(_inline_enum(LicenceStatus.choices))
class LicenceStatusField(serializers.CharField):
    pass


@extend_schema_field(_inline_enum(LicenceSource.choices))
class LicenceSourceField(serializers.CharField):
    pass


class LicenceSerializer(serializers.ModelSerializer):
    status = LicenceStatusField(read_only=True)
    source = LicenceSourceField(read_only=True)  # type: ignore[assignment]  # the field is named "source"
    product = serializers.SerializerMethodField(help_text="publisher/slug of the product.")
    product_name = serializers.CharField(source="product.name", read_only=True)
    pull = serializers.SerializerMethodField(
        help_text="The docker pull command, while the licence holder may pull the tier; null otherwise."
    )

    class Meta:
        model = Licence
        fields = [
            "id",
            "product",
            "product_name",
            "tier_key",
            "tier_name",
            "status",
            "source",
            "current_period_end",
            "cancel_at_period_end",
            "licence_version",
            "licence_accepted_at",
            "pull",
            "created_at",
        ]
        read_only_fields = fields

    def get_product(self, licence: Licence) -> str:
        return f"{licence.product.publisher.namespace}/{licence.product.slug}"

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_pull(self, licence: Licence) -> str | None:
        tiers: dict[Any, Tier] = self.context.get("tiers", {})
        tier = tiers.get((licence.product_id, licence.tier_key))
        request = self.context.get("request")
        user = request.user if request is not None else licence.user
        if tier is None or not selectors.may_pull_licensed(user=user, licence=licence, live_tier=tier):
            return None
        host = getattr(settings, "REGISTRY_PUBLIC_HOST", "registry.localhost:5000")
        return f"docker pull {host}/{tier.repository}:{tier.tag}"


class CheckoutSerializer(serializers.Serializer):
    checkout_url = serializers.URLField(read_only=True, help_text="Send the customer here to pay.")


class AcceptLicenceSerializer(serializers.Serializer):
    accept_licence = serializers.BooleanField(
        default=False, help_text="True when the customer accepted the tier's licence agreement."
    )


class TierCheckout(APIView):
    @extend_schema(
        summary="Start buying a paid tier",
        description="Answers the Stripe Checkout address for a paid tier of a live product. "
        "The licence is granted when Stripe confirms the payment.",
        tags=["licences"],
        request=None,
        responses={
            200: CheckoutSerializer,
            **error_responses(
                {
                    400: "Free tier, already licensed, or not for sale.",
                    503: "Payment is not configured or Stripe did not answer.",
                }
            ),
        },
    )
    def post(self, request: Request, tier_id: int) -> Response:
        tier = selectors.get_live_tier(tier_id)
        try:
            order = services.checkout_start(user=_actor(request), tier=tier)
        except gateway.GatewayError as exc:
            raise _gateway_error(exc) from exc
        return Response({"checkout_url": order.checkout_url})


class TierAcceptLicence(APIView):
    @extend_schema(
        summary="Get a free tier",
        description="Grants the licence at once. When the tier requires it, send accept_licence=true "
        "to record that the customer accepted the licence agreement.",
        tags=["licences"],
        request=AcceptLicenceSerializer,
        responses={201: LicenceSerializer, **error_responses({400: "Not accepted or not free."})},
    )
    def post(self, request: Request, tier_id: int) -> Response:
        tier = selectors.get_live_tier(tier_id)
        data = AcceptLicenceSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        licence = services.licence_accept(
            user=_actor(request), tier=tier, accepted=data.validated_data["accept_licence"]
        )
        licence = selectors.get_licence_for_user(request.user, licence.pk)
        context = {"request": request, "tiers": selectors.live_tiers_for([licence])}
        return Response(LicenceSerializer(licence, context=context).data, status=status.HTTP_201_CREATED)


class MyLicences(generics.ListAPIView):
    serializer_class = LicenceSerializer

    def get_queryset(self) -> Any:
        return selectors.licences_for_user(self.request.user)

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        rows = list(page or [])
        context = {**self.get_serializer_context(), "tiers": selectors.live_tiers_for(rows)}
        return self.get_paginated_response(LicenceSerializer(rows, many=True, context=context).data)

    @extend_schema(summary="My licences", tags=["licences"])
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class LicenceCancel(APIView):
    @extend_schema(
        summary="Cancel one of my licences",
        description="Subscriptions run to the end of the paid period; free and one-off licences end now.",
        tags=["licences"],
        request=None,
        responses={200: LicenceSerializer, **error_responses({400: "Not active."})},
    )
    def post(self, request: Request, licence_id: int) -> Response:
        licence = selectors.get_licence_for_user(request.user, licence_id)
        try:
            services.licence_cancel(user=_actor(request), licence=licence)
        except gateway.GatewayError as exc:
            raise _gateway_error(exc) from exc
        licence = selectors.get_licence_for_user(request.user, licence_id)
        context = {"request": request, "tiers": selectors.live_tiers_for([licence])}
        return Response(LicenceSerializer(licence, context=context).data)


urlpatterns = [
    path("tiers/<int:tier_id>/checkout/", TierCheckout.as_view(), name="api-tier-checkout"),
    path("tiers/<int:tier_id>/accept-licence/", TierAcceptLicence.as_view(), name="api-tier-accept-licence"),
    path("me/licences/", MyLicences.as_view(), name="api-my-licences"),
    path("me/licences/<int:licence_id>/cancel/", LicenceCancel.as_view(), name="api-licence-cancel"),
]

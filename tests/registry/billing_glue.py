"""Licences through billing's own services, for the registry tests once billing has landed."""

from __future__ import annotations

from billing import services as billing_services
from billing.models import Licence
from listings.models import Tier
from tests.factories import UserFactory


def grant(user, tier: Tier) -> Licence:
    staff = UserFactory(email="licences@store.example.com", is_staff=True)
    return billing_services.licence_grant(actor=staff, user=user, tier=tier)


def cancel(user, tier: Tier) -> Licence:
    licence = Licence.objects.get(user_id=user.pk, product=tier.revision.product, tier_key=tier.key)
    return billing_services.licence_cancel(user=user, licence=licence)

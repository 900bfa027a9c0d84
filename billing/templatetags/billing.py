from __future__ import annotations

from typing import Any

from django import template

from billing.selectors import TierAction, tier_action
from listings.models import Product, Tier

register = template.Library()


@register.simple_tag
def billing_tier_action(user: Any, product: Product, tier: Tier) -> TierAction:
    """What ``user`` can do with ``tier`` on the product page (see ``billing.selectors.tier_action``)."""
    return tier_action(user=user, product=product, tier=tier)


@register.filter
def major(amount: int | None) -> str:
    """Minor units (cents) as a decimal amount: 1234 -> 12.34."""
    value = int(amount or 0)
    sign = "-" if value < 0 else ""
    return f"{sign}{abs(value) // 100}.{abs(value) % 100:02d}"

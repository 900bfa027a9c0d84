from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_categories(sender: AppConfig, **kwargs: Any) -> None:
    # Also runs after the test runner's flush, which empties the table the seed migration filled.
    from listings.categories import categories_ensure

    categories_ensure()


class ListingsConfig(AppConfig):
    name = "listings"

    def ready(self) -> None:
        # django.contrib.postgres is not installed, so its trigram lookup is registered here, on the
        # one field that uses it (the GIN trigram index on product names serves it).
        from django.contrib.postgres.lookups import TrigramWordSimilar

        from listings.models import Product

        Product._meta.get_field("name").register_lookup(TrigramWordSimilar)
        post_migrate.connect(_ensure_categories, sender=self)

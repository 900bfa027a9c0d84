from django.apps import AppConfig


class ListingsConfig(AppConfig):
    name = "listings"

    def ready(self) -> None:
        # django.contrib.postgres is not installed, so its trigram lookup is registered here, on the
        # one field that uses it (the GIN trigram index on product names serves it).
        from django.contrib.postgres.lookups import TrigramWordSimilar

        from listings.models import Product

        Product._meta.get_field("name").register_lookup(TrigramWordSimilar)

from django.apps import AppConfig


class StoreConfig(AppConfig):
    name = "store"
    verbose_name = "Store"

    def ready(self) -> None:
        from store import roles  # noqa: F401  (connects the Moderators group sync)

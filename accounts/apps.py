from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"

    def ready(self) -> None:
        # Registers the OpenAPI description of Bearer tokens (extensions register on import).
        from accounts import schema  # noqa: F401

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ScanningConfig(AppConfig):
    name = "scanning"

    def ready(self) -> None:
        from scanning.roles import sync_after_migrate

        # Sent after auth's create_permissions for this app (connected earlier), so they exist.
        post_migrate.connect(sync_after_migrate, sender=self, dispatch_uid="scanning-security-team")

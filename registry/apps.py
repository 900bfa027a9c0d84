from django.apps import AppConfig
from django.db.models.signals import post_save


class RegistryConfig(AppConfig):
    name = "registry"
    verbose_name = "Docker Registry integration"

    def ready(self) -> None:
        from accounts.models import User
        from audit.models import AuditEvent
        from registry import signals

        post_save.connect(
            signals.forget_revoked_token, sender=AuditEvent, dispatch_uid="registry-token-revoked"
        )
        post_save.connect(
            signals.forget_tokens_of_inactive_user, sender=User, dispatch_uid="registry-user-inactive"
        )

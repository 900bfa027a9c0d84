"""Notifications received from the registry, kept so a redelivered event is recognised."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class Outcome(models.TextChoices):
    DOWNLOAD = "download", "Counted as a download"
    SCAN = "scan", "Scan queued"
    IGNORED = "ignored", "Nothing to do"


class RegistryEvent(models.Model):
    """One registry notification. ``event_id`` is unique: the registry retries until it hears 2xx,
    so the same event can arrive more than once and must count once."""

    event_id = models.CharField(max_length=100, unique=True)
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField(default=timezone.now)
    action = models.CharField(max_length=20)
    method = models.CharField(max_length=10, blank=True)
    repository = models.CharField(max_length=255)
    tag = models.CharField(max_length=128, blank=True)
    digest = models.CharField(max_length=100, blank=True)
    media_type = models.CharField(max_length=100, blank=True)
    actor = models.CharField("token subject", max_length=254, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.IGNORED)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["repository", "action", "occurred_at"], name="registryevent_repo"),
            # The daily purge (registry.tasks.purge_registry_events) deletes by age.
            models.Index(fields=["received_at"], name="registryevent_received"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.repository}@{self.digest or self.tag} by {self.actor or 'anonymous'}"

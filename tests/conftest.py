"""Personas and shared fixtures.

Every tenant test uses three people: the ``owner`` of publisher ``acme``, a ``member`` (editor) of
the same publisher, and an ``outsider`` who owns another publisher and must see nothing of acme.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.db import connection
from rest_framework.test import APIClient

from accounts.models import User
from publishers.models import Publisher, Role
from tests.factories import MembershipFactory, PublisherFactory, UserFactory


def pytest_report_header(config: pytest.Config) -> list[str]:
    from django.conf import settings

    db = settings.DATABASES["default"]
    return [
        f"database engine: {db['ENGINE']} at {db.get('HOST') or '-'}:{db.get('PORT') or '-'}/{db['NAME']}",
        f"cache/broker: {settings.CACHES['default']['BACKEND']} / {settings.CELERY_BROKER_URL}",
    ]


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@dataclass
class Personas:
    acme: Publisher
    owner: User
    member: User
    viewer: User
    outsider: User
    other: Publisher


@pytest.fixture
def personas(db) -> Personas:
    acme = PublisherFactory(namespace="acme", legal_name="Acme Containers Ltd")
    other = PublisherFactory(namespace="globex", legal_name="Globex Corporation")
    owner = UserFactory(email="owner@acme.example.com", full_name="Olive Owner")
    member = UserFactory(email="editor@acme.example.com", full_name="Eddie Editor")
    viewer = UserFactory(email="viewer@acme.example.com", full_name="Vera Viewer")
    outsider = UserFactory(email="owner@globex.example.com", full_name="Oscar Outsider")
    MembershipFactory(publisher=acme, user=owner, role=Role.OWNER)
    MembershipFactory(publisher=acme, user=member, role=Role.EDITOR)
    MembershipFactory(publisher=acme, user=viewer, role=Role.VIEWER)
    MembershipFactory(publisher=other, user=outsider, role=Role.OWNER)
    return Personas(acme=acme, owner=owner, member=member, viewer=viewer, outsider=outsider, other=other)


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def is_postgres(db) -> bool:
    return connection.vendor == "postgresql"

"""/healthz answers what load balancers and `docker compose` ask: are the database and broker up?"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import OperationalError
from django.test import Client
from pytest_django import Settings

from store import views

pytestmark = pytest.mark.django_db


class _DownConnection:
    """Stands in for ``django.db.connection`` when the database server is gone."""

    def cursor(self) -> Any:
        raise OperationalError("connection to server at 127.0.0.1, port 5432 failed")


def _get(client: Client) -> tuple[int, dict[str, str]]:
    response = client.get("/healthz")
    assert response["Content-Type"] == "application/json"
    return response.status_code, response.json()


def test_ok_when_postgresql_and_the_redis_broker_answer(client: Client, real_broker: str) -> None:
    status, body = _get(client)
    assert status == 200
    assert body == {"status": "ok", "database": "ok", "broker": "ok"}


def test_never_cached(client: Client, real_broker: str) -> None:
    """A cached 200 would hide an outage from the load balancer."""
    response = client.get("/healthz")
    assert "no-cache" in response["Cache-Control"]
    assert "max-age=0" in response["Cache-Control"]


def test_503_when_the_broker_is_unreachable(
    client: Client, real_broker: str, settings: Settings, closed_port: int
) -> None:
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{closed_port}/0"
    status, body = _get(client)
    assert status == 503
    assert body["status"] == "unavailable"
    assert body["database"] == "ok"
    assert body["broker"].startswith("error: ")


def test_503_when_the_database_fails(
    client: Client, real_broker: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(views, "connection", _DownConnection())
    status, body = _get(client)
    assert status == 503
    assert body == {"status": "unavailable", "database": "error: OperationalError", "broker": "ok"}


def test_eager_mode_reports_no_broker(client: Client, settings: Settings) -> None:
    """The embedded default (no REDIS_URL) runs tasks in-process; that is healthy, and says so."""
    settings.CELERY_TASK_ALWAYS_EAGER = True
    status, body = _get(client)
    assert status == 200
    assert body["broker"] == "ok (tasks run eagerly, no broker)"


def test_only_get(client: Client) -> None:
    assert client.post("/healthz").status_code == 405


def test_not_redirected_to_https(client: Client, settings: Settings) -> None:
    """Probes speak plain HTTP inside the network even when the site forces HTTPS."""
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/healthz").status_code == 200
    assert client.get("/").status_code == 301

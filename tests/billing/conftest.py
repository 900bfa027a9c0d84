from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from accounts.models import User
from tests.billing.fake_stripe import FakeStripe
from tests.billing.helpers import WEBHOOK_SECRET, Catalog, live_product, post_event, ready_payouts
from tests.conftest import Personas
from tests.factories import UserFactory
from tests.listings.helpers import make_moderator


@pytest.fixture(scope="session")
def fake_stripe_server() -> Iterator[FakeStripe]:
    fake = FakeStripe().start()
    yield fake
    fake.stop()


@pytest.fixture
def fake_stripe(fake_stripe_server: FakeStripe) -> Iterator[FakeStripe]:
    fake_stripe_server.reset()
    yield fake_stripe_server
    fake_stripe_server.reset()


@pytest.fixture
def stripe_on(settings, fake_stripe: FakeStripe) -> FakeStripe:
    """The real stripe client pointed at the fake, with test keys; the store fee is 20%."""
    settings.STRIPE_SECRET_KEY = "sk_test_fake"
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.STRIPE_API_BASE = fake_stripe.url
    settings.STRIPE_TIMEOUT_SECONDS = 2
    settings.STRIPE_MAX_NETWORK_RETRIES = 1
    settings.STORE_REVENUE_SHARE_PERCENT = 20
    settings.SITE_URL = "http://testserver"
    settings.REGISTRY_PUBLIC_HOST = "registry.example.com"
    return fake_stripe


@pytest.fixture
def stripe_off(settings) -> None:
    settings.STRIPE_SECRET_KEY = ""
    settings.STRIPE_WEBHOOK_SECRET = ""


@pytest.fixture
def moderator(db) -> User:
    return make_moderator()


@pytest.fixture
def customer(db) -> User:
    return UserFactory(email="carol@customer.example.com", full_name="Carol Customer")


@pytest.fixture
def catalog(personas: Personas, moderator: User) -> Catalog:
    return live_product(personas.acme, personas.owner, moderator)


@pytest.fixture
def shop(stripe_on: FakeStripe, personas: Personas, catalog: Catalog) -> Catalog:
    """The catalog, Stripe configured, and acme able to take payments."""
    ready_payouts(personas.acme)
    stripe_on.add_account("acct_test_acme")
    return catalog


@pytest.fixture
def deliver(client, django_capture_on_commit_callbacks) -> Callable[..., list[Any]]:
    """Post signed events to the webhook and run what it queued on commit (the Celery task)."""

    def run(*events: dict[str, Any]) -> list[Any]:
        responses = []
        for event in events:
            with django_capture_on_commit_callbacks(execute=True):
                responses.append(post_event(client, event))
        return responses

    return run

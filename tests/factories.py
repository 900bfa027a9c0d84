"""factory_boy factories for the store's models."""

from __future__ import annotations

import factory
from django.core.files.base import ContentFile
from django.utils import timezone

from accounts.models import User
from publishers.models import Membership, Publisher, Role
from tests.images import image_bytes

DEFAULT_PASSWORD = "correct horse battery staple"


class UserFactory(factory.django.DjangoModelFactory[User]):
    class Meta:
        model = User
        django_get_or_create = ["email"]
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"person{n}@example.com")
    full_name = factory.Faker("name")
    email_verified_at = factory.LazyFunction(timezone.now)
    password = factory.django.Password(DEFAULT_PASSWORD)


class PublisherFactory(factory.django.DjangoModelFactory[Publisher]):
    class Meta:
        model = Publisher
        django_get_or_create = ["namespace"]

    namespace = factory.Sequence(lambda n: f"acme{n}")
    legal_name = factory.Faker("company")
    website = "https://example.com"
    phone = "+14155550100"
    company_email = factory.LazyAttribute(lambda o: f"hello@{o.namespace}.example.com")
    logo = factory.LazyFunction(lambda: ContentFile(image_bytes(), name="logo.png"))
    story = "We build databases."
    onboarding_completed_at = factory.LazyFunction(timezone.now)


class MembershipFactory(factory.django.DjangoModelFactory[Membership]):
    class Meta:
        model = Membership

    publisher = factory.SubFactory(PublisherFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.VIEWER

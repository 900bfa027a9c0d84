"""Demo data for a local store: publishers with logos and full profiles, their members,
customers, a moderator and an admin. Running it again finds what exists and changes nothing.

The demo accounts share one published password, so the command refuses to run unless DEBUG is on
(or ``--force`` is given, e.g. on a throwaway staging database).
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.test.utils import override_settings
from django.utils import timezone
from PIL import Image, ImageDraw, ImageFont

from accounts.models import User
from audit.models import EventType
from audit.services import record
from publishers import services
from publishers.models import Membership, Publisher, Role
from store.roles import MODERATORS_GROUP, sync_moderators_group

DEMO_PASSWORD = "demo-store-2017"
SITE = "http://127.0.0.1:8000/"


@dataclass(frozen=True)
class DemoPublisher:
    namespace: str
    legal_name: str
    domain: str
    phone: str
    colour: str
    story: str
    support_hours: str
    response_times: str
    owner: tuple[str, str]
    members: list[tuple[str, str, Role]] = field(default_factory=list)


PUBLISHERS = [
    DemoPublisher(
        namespace="nimbusdb",
        legal_name="Nimbus Data Systems Inc.",
        domain="nimbusdb.example.com",
        phone="+14155550123",
        colour="#0b63ce",
        story="Nimbus builds a distributed SQL database that runs anywhere containers do. "
        "Our certified images are tested on every supported engine release.",
        support_hours="24x7 for Enterprise tiers; Monday to Friday, 08:00-20:00 PT otherwise.",
        response_times="Critical: 1 hour. High: 4 hours. Normal: 1 business day.",
        owner=("olivia@nimbusdb.example.com", "Olivia Nakamura"),
        members=[
            ("arjun@nimbusdb.example.com", "Arjun Mehta", Role.ADMIN),
            ("emma@nimbusdb.example.com", "Emma Larsen", Role.EDITOR),
        ],
    ),
    DemoPublisher(
        namespace="quayside",
        legal_name="Quayside Networks Ltd",
        domain="quayside.example.com",
        phone="+442079460123",
        colour="#067647",
        story="Quayside makes a service mesh and an edge proxy for teams that ship containers daily.",
        support_hours="Monday to Friday, 09:00-18:00 GMT.",
        response_times="Critical: 4 hours. Others: 2 business days.",
        owner=("harry@quayside.example.com", "Harry Quayle"),
        members=[("priya@quayside.example.com", "Priya Shah", Role.EDITOR)],
    ),
    DemoPublisher(
        namespace="tundra-security",
        legal_name="Tundra Security GmbH",
        domain="tundra.example.com",
        phone="+493012345678",
        colour="#b42318",
        story="Tundra scans, signs and hardens container images. Our runtime agent watches what "
        "your containers do and stops what they should not.",
        support_hours="Monday to Friday, 08:00-17:00 CET.",
        response_times="Security incidents: 2 hours, around the clock. Other issues: 1 business day.",
        owner=("lena@tundra.example.com", "Lena Vogel"),
        members=[
            ("jonas@tundra.example.com", "Jonas Keller", Role.OWNER),
            ("mia@tundra.example.com", "Mia Wagner", Role.VIEWER),
        ],
    ),
    DemoPublisher(
        namespace="lumen-analytics",
        legal_name="Lumen Analytics Pty Ltd",
        domain="lumen.example.com",
        phone="+61291234567",
        colour="#7a2e9e",
        story="Lumen packages a streaming analytics engine and dashboards as a single container.",
        support_hours="Monday to Friday, 09:00-17:00 AEST.",
        response_times="Critical: 8 hours. Others: 3 business days. Community edition: best effort.",
        owner=("noah@lumen.example.com", "Noah Williams"),
        members=[("chloe@lumen.example.com", "Chloe Nguyen", Role.ADMIN)],
    ),
]

CUSTOMERS = [
    ("dana@customer.example.com", "Dana Fischer"),
    ("kenji@customer.example.com", "Kenji Sato"),
    ("sofia@customer.example.com", "Sofia Rossi"),
]
MODERATOR = ("moderator@store.example.com", "Morgan Moderator")
ADMIN = ("admin@store.example.com", "Ada Admin")


def initials(name: str) -> str:
    words = [word for word in name.replace("-", " ").split() if word[:1].isalnum()]
    return "".join(word[0] for word in words[:2]).upper() or "?"


def logo_png(text: str, colour: str, size: int = 512) -> bytes:
    """A square PNG: the colour with the initials in white, centred."""
    image = Image.new("RGB", (size, size), colour)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=size * 2 // 5)
    box = draw.textbbox((0, 0), text, font=font)
    x = (size - (box[2] - box[0])) / 2 - box[0]
    y = (size - (box[3] - box[1])) / 2 - box[1]
    draw.text((x, y), text, font=font, fill="white")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


class Command(BaseCommand):
    help = "Load demo publishers, members, customers, a moderator and an admin (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--force", action="store_true", help="Run even with DEBUG off (the demo password is public)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        # The demo's own invitations and review decisions would flood the console with email and
        # task logs; they are kept in memory instead.
        trace = logging.getLogger("celery.app.trace")
        level = trace.level
        trace.setLevel(logging.WARNING)
        try:
            with override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"):
                self.load(**options)
        finally:
            trace.setLevel(level)

    def load(self, **options: Any) -> None:
        if not settings.DEBUG and not options["force"]:
            raise CommandError(
                "load_demo creates accounts with a published password; run it with DEBUG=1, "
                "or pass --force on a database nobody else can reach."
            )
        self.created = 0
        self.found = 0
        admin = self.user(*ADMIN, superuser=True)
        moderator = self.user(*MODERATOR, staff=True)
        sync_moderators_group()
        moderator.groups.add(Group.objects.get(name=MODERATORS_GROUP))
        for demo in PUBLISHERS:
            self.publisher(demo)
        for email, name in CUSTOMERS:
            self.user(email, name)
        # Products, tiers and the review queue, on the publishers above.
        call_command("load_demo_listings", stdout=self.stdout)
        self.stdout.write(
            self.style.SUCCESS(f"\nDemo data ready: {self.created} created, {self.found} already there.")
        )
        self.stdout.write(f"\nOpen {SITE} and log in with any of these (password: {DEMO_PASSWORD}):")
        logins = [("admin (superuser)", admin.email), ("moderator (staff)", moderator.email)]
        for demo in PUBLISHERS:
            logins.append((f"owner of {demo.namespace}", demo.owner[0]))
            logins += [
                (f"{role.label.lower()} of {demo.namespace}", email) for email, _n, role in demo.members
            ]
        logins += [("customer", email) for email, _name in CUSTOMERS]
        for label, email in logins:
            self.stdout.write(f"  {label:<28}{email}")
        self.stdout.write(f"The admin site is at {SITE}admin/ (admin and moderator).")

    def report(self, created: bool, what: str) -> None:
        if created:
            self.created += 1
        else:
            self.found += 1
        self.stdout.write(f"{'created' if created else 'found  '}  {what}")

    def user(self, email: str, full_name: str, *, staff: bool = False, superuser: bool = False) -> User:
        user, created = User.objects.get_or_create(
            email=email,
            defaults={
                "full_name": full_name,
                "is_staff": staff or superuser,
                "is_superuser": superuser,
                "email_verified_at": timezone.now(),
            },
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
        kind = "admin" if superuser else "moderator" if staff else "user"
        self.report(created, f"{kind} {email}")
        return user

    def publisher(self, demo: DemoPublisher) -> Publisher:
        owner = self.user(*demo.owner)
        publisher = Publisher.objects.filter(namespace=demo.namespace).first()
        created = publisher is None
        if publisher is None:
            publisher = self.onboard(demo, owner)
        self.report(created, f"publisher {demo.namespace} ({demo.legal_name}), owner {owner.email}")
        for email, name, role in demo.members:
            user = self.user(email, name)
            with transaction.atomic():
                membership, joined = Membership.objects.get_or_create(
                    publisher=publisher, user=user, defaults={"role": role}
                )
                if joined:
                    record(
                        event_type=EventType.MEMBER_JOINED,
                        actor=user,
                        publisher=publisher,
                        target=membership,
                        data={"role": role.value, "source": "load_demo"},
                    )
            self.report(joined, f"membership {email} as {membership.role} of {demo.namespace}")
        return publisher

    def onboard(self, demo: DemoPublisher, owner: User) -> Publisher:
        """Through the services, as a person would, so the audit log has the same events."""
        publisher = services.publisher_create(
            actor=owner,
            namespace=demo.namespace,
            legal_name=demo.legal_name,
            website=f"https://www.{demo.domain}",
            phone=demo.phone,
            company_email=f"hello@{demo.domain}",
            logo=SimpleUploadedFile(
                "logo.png", logo_png(initials(demo.legal_name), demo.colour), "image/png"
            ),
            story=demo.story,
        )
        services.onboarding_support_save(
            publisher=publisher,
            actor=owner,
            support_website=f"https://support.{demo.domain}",
            support_email=f"support@{demo.domain}",
            self_help_links=f"https://docs.{demo.domain}\nhttps://status.{demo.domain}",
            support_hours=demo.support_hours,
            response_times=demo.response_times,
        )
        return services.publisher_onboarding_complete(publisher=publisher, actor=owner)

"""Demo catalog: 32 products across the categories, free and paid, some waiting in review.

Idempotent: a product that already exists (same publisher and slug) is left alone. Products are
spread over the publishers that exist; with none, two demo publishers are created.
"""

from __future__ import annotations

import io
import zlib
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify
from PIL import Image, ImageDraw

from accounts.models import User
from listings import services
from listings.categories import categories_ensure
from listings.models import Category, Product
from publishers.models import Membership, Publisher, Role

FREE = Decimal("0")


@dataclass
class Spec:
    name: str
    category: str
    tags: str
    short: str
    tiers: list[tuple[str, Decimal, str, int]] = field(default_factory=list)  # name, price, billing, trial
    kind: str = "container"
    state: str = "published"  # published, in_review, changes_requested, draft
    community: bool = False


def _free(name: str = "Community") -> list[tuple[str, Decimal, str, int]]:
    return [(name, FREE, "monthly", 0)]


def _paid(monthly: str, yearly: str | None = None, trial: int = 14) -> list[tuple[str, Decimal, str, int]]:
    tiers = [("Standard", Decimal(monthly), "monthly", trial)]
    if yearly:
        tiers.append(("Enterprise", Decimal(yearly), "yearly", 30))
    return tiers


SPECS = [
    Spec(
        "Postgres Enterprise",
        "databases",
        "postgres, postgresql, sql, database",
        "PostgreSQL with point-in-time recovery, streaming replicas and automated failover.",
        _paid("99", "999"),
    ),
    Spec(
        "Postgres Backup Manager",
        "databases",
        "postgres, backup, restore",
        "Scheduled, verified backups of PostgreSQL clusters to S3 or disk.",
        _free() + _paid("29"),
    ),
    Spec(
        "PostGIS Geo Server",
        "databases",
        "postgres, gis, spatial, maps",
        "PostgreSQL with PostGIS and tile serving for maps and spatial analytics.",
        _free(),
    ),
    Spec(
        "MariaDB Cluster",
        "databases",
        "mysql, mariadb, sql, galera",
        "Multi-primary MariaDB with Galera replication, ready for production.",
        _paid("79", "790"),
    ),
    Spec(
        "Document Store",
        "databases",
        "nosql, json, document",
        "A JSON document database with secondary indexes and change streams.",
        _free() + _paid("49"),
    ),
    Spec(
        "Time Series DB",
        "databases",
        "timeseries, metrics, sql, postgres",
        "Time-series storage on PostgreSQL with compression and continuous aggregates.",
        _paid("59"),
        state="in_review",
    ),
    Spec(
        "Edge Proxy",
        "networking",
        "proxy, http, tls, load balancer",
        "An HTTP/2 and gRPC edge proxy with automatic TLS certificates.",
        _free() + _paid("39"),
    ),
    Spec(
        "Service Mesh Control Plane",
        "networking",
        "mesh, mtls, kubernetes",
        "Zero-trust service-to-service traffic with mutual TLS and retries.",
        _paid("149", "1490"),
    ),
    Spec(
        "Private DNS",
        "networking",
        "dns, resolver, split horizon",
        "Authoritative and recursive DNS with split-horizon views.",
        _free(),
    ),
    Spec(
        "Overlay Network Plugin",
        "networking",
        "network, plugin, vxlan",
        "A VXLAN overlay network driver for multi-host container networking.",
        _free(),
        kind="plugin",
    ),
    Spec(
        "Open CRM",
        "business-software",
        "crm, sales, contacts",
        "Customer relationships, pipelines and quotes for small sales teams.",
        _paid("25", "250"),
    ),
    Spec(
        "Team Wiki",
        "business-software",
        "wiki, docs, collaboration",
        "A fast wiki with Markdown, page history and single sign-on.",
        _free() + _paid("8"),
    ),
    Spec(
        "Invoice Server",
        "business-software",
        "billing, invoices, accounting",
        "Invoices, reminders and payments reconciliation behind one API.",
        _paid("19"),
        state="changes_requested",
    ),
    Spec(
        "Minimal Debian Base",
        "base-images",
        "debian, base, minimal",
        "A hardened Debian base image rebuilt daily with security updates.",
        _free(),
    ),
    Spec(
        "Alpine Secure Base",
        "base-images",
        "alpine, base, musl, minimal",
        "Alpine Linux with a minimal package set and signed rebuilds.",
        _free(),
    ),
    Spec(
        "Distroless Java Runtime",
        "base-images",
        "java, distroless, jre",
        "A Java runtime without a shell or package manager.",
        _free(),
        community=True,
    ),
    Spec(
        "Python Runtime",
        "programming-languages",
        "python, runtime, pip",
        "CPython builds with common wheels preinstalled and pinned.",
        _free(),
    ),
    Spec(
        "Go Toolchain",
        "programming-languages",
        "go, golang, build",
        "The Go toolchain with module caching for fast CI builds.",
        _free(),
    ),
    Spec(
        "Node.js LTS",
        "programming-languages",
        "node, javascript, npm",
        "Node.js long-term support releases, slim and patched.",
        _free() + _paid("15"),
    ),
    Spec(
        "Application Server",
        "application-frameworks",
        "java, jakarta, app server",
        "A Jakarta EE application server with clustering and hot deploy.",
        _paid("119", "1190"),
    ),
    Spec(
        "Web Framework Starter",
        "application-frameworks",
        "python, django, web",
        "A production-ready Django stack with gunicorn, Celery and Postgres.",
        _free(),
        state="in_review",
    ),
    Spec(
        "Metrics Collector",
        "monitoring",
        "metrics, prometheus, exporter",
        "Collects host and container metrics and exposes them for scraping.",
        _free(),
    ),
    Spec(
        "Log Pipeline",
        "monitoring",
        "logs, pipeline, search",
        "Ships, parses and indexes logs with retention policies.",
        _paid("69", "690"),
    ),
    Spec(
        "Uptime Monitor",
        "monitoring",
        "uptime, alerts, status page",
        "Checks endpoints every minute and pages the right person.",
        _free() + _paid("12"),
    ),
    Spec(
        "Secrets Vault",
        "security",
        "secrets, vault, encryption",
        "Stores and rotates secrets with audit trails and short-lived credentials.",
        _paid("199", "1990"),
    ),
    Spec(
        "Image Policy Gate",
        "security",
        "policy, admission, signatures",
        "Admits only signed images that pass your policies.",
        _paid("89"),
        state="in_review",
    ),
    Spec(
        "Object Storage Gateway",
        "storage",
        "s3, object storage, backup",
        "An S3-compatible object store for on-premises data.",
        _free() + _paid("99"),
    ),
    Spec(
        "Volume Plugin",
        "storage",
        "volume, plugin, nfs",
        "Persistent volumes on NFS and iSCSI for containers.",
        _paid("49"),
        kind="plugin",
    ),
    Spec(
        "Message Broker",
        "messaging",
        "amqp, queue, broker",
        "A reliable AMQP broker with quorum queues and a management UI.",
        _free() + _paid("59"),
    ),
    Spec(
        "Event Streaming",
        "messaging",
        "streaming, events, kafka",
        "A partitioned event log for streaming pipelines.",
        _paid("129", "1290"),
    ),
    Spec(
        "BI Dashboards",
        "analytics",
        "bi, dashboards, sql, postgres",
        "Dashboards and reports on top of your SQL databases, including Postgres.",
        _free() + _paid("35"),
    ),
    Spec(
        "CI Runner",
        "developer-tools",
        "ci, build, pipelines",
        "Self-hosted CI runners that scale with your queue.",
        _free(),
        state="draft",
    ),
]

LONG = """## What you get

{short}

- Production defaults that follow the publisher guide's best practices
- Small images, few layers, rebuilt when a security fix lands
- Documentation and support from {publisher}

## Getting started

See the installation instructions below, then open the support link for guides.
"""


def _png(width: int, height: int, color: tuple[int, int, int], text: str) -> bytes:
    image = Image.new("RGB", (width, height), color)
    draw = ImageDraw.Draw(image)
    draw.rectangle(
        [width // 10, height // 10, width * 9 // 10, height * 9 // 10], outline=(255, 255, 255), width=6
    )
    draw.text((width // 5, height // 2 - 10), text, fill=(255, 255, 255))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _color(name: str) -> tuple[int, int, int]:
    seed = zlib.crc32(name.encode())
    return (40 + seed % 160, 40 + (seed >> 8) % 160, 40 + (seed >> 16) % 160)


class Command(BaseCommand):
    help = "Load demo products into the catalog (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        publishers = list(Publisher.objects.order_by("id"))
        if not publishers:
            publishers = self._demo_publishers()
        moderator = self._moderator()
        categories_ensure()
        categories = {c.slug: c for c in Category.objects.all()}
        created = 0
        for publisher in publishers:
            self._demo_payouts(publisher)
        for index, spec in enumerate(SPECS):
            publisher = publishers[index % len(publishers)]
            if Product.objects.filter(publisher=publisher, slug=slugify(spec.name)).exists():
                continue
            with transaction.atomic():
                self._load(spec, publisher, self._author(publisher), moderator, categories)
            created += 1
        self.stdout.write(f"Demo listings: {created} created, {len(SPECS) - created} already there.")

    def _demo_payouts(self, publisher: Publisher) -> None:
        """Demo publishers count as onboarded with Stripe, so their paid tiers may go live.

        The account ids are placeholders: checkout against real Stripe needs real onboarding.
        """
        from billing.models import PayoutAccount

        PayoutAccount.objects.get_or_create(
            publisher=publisher,
            defaults={
                "stripe_account_id": f"acct_demo_{publisher.namespace}",
                "charges_enabled": True,
                "payouts_enabled": True,
                "details_submitted": True,
            },
        )

    def _demo_publishers(self) -> list[Publisher]:
        result = []
        for namespace, name in [("northwind", "Northwind Software"), ("initech", "Initech Systems")]:
            publisher, _ = Publisher.objects.get_or_create(
                namespace=namespace,
                defaults={
                    "legal_name": name,
                    "website": f"https://{namespace}.example.com",
                    "phone": "+14155550100",
                    "company_email": f"hello@{namespace}.example.com",
                    "logo": ContentFile(_png(512, 512, _color(namespace), name), name="logo.png"),
                    "story": f"{name} builds dependable infrastructure software.",
                    "support_email": f"support@{namespace}.example.com",
                    "support_hours": "Monday to Friday, 09:00-18:00 UTC",
                    "response_times": "Critical issues answered within 4 hours.",
                },
            )
            result.append(publisher)
        return result

    def _author(self, publisher: Publisher) -> User:
        membership = (
            Membership.objects.filter(publisher=publisher, role__in=[Role.OWNER, Role.ADMIN, Role.EDITOR])
            .select_related("user")
            .first()
        )
        if membership is not None:
            return membership.user
        user, _ = User.objects.get_or_create(
            email=f"demo-editor@{publisher.namespace}.example.com", defaults={"full_name": "Demo Editor"}
        )
        Membership.objects.get_or_create(publisher=publisher, user=user, defaults={"role": Role.EDITOR})
        return user

    def _moderator(self) -> User:
        # The demo's own moderator (made by load_demo) decides the demo reviews when it exists.
        existing = User.objects.filter(is_staff=True, is_superuser=False).order_by("pk").first()
        if existing is not None:
            return existing
        user, made = User.objects.get_or_create(
            email="demo-moderator@store.example.com",
            defaults={"full_name": "Demo Moderator", "is_staff": True, "email_verified_at": timezone.now()},
        )
        if made:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        return user

    def _load(
        self, spec: Spec, publisher: Publisher, author: User, moderator: User, categories: dict[str, Category]
    ) -> None:
        product = services.product_create(actor=author, publisher=publisher, name=spec.name)
        ns = publisher.namespace
        paid = any(price > 0 for _, price, _, _ in spec.tiers)
        tiers = [
            services.TierChange(
                data={
                    "name": name,
                    "description": f"{name} edition of {spec.name}."
                    + (f" {trial}-day trial." if trial else ""),
                    "price": price,
                    "currency": "USD",
                    "billing": billing,
                    "trial_days": trial if price > 0 else 0,
                    "licence_required": price > 0,
                    "staging_source": f"{ns}/{product.slug}-{slugify(name)}-staging:1.0",
                    "repository": "",
                }
            )
            for name, price, billing, trial in spec.tiers
        ]
        services.revision_save(
            actor=author,
            product=product,
            changes={
                "name": spec.name,
                "logo": ContentFile(_png(256, 256, _color(spec.name), spec.name[:12]), name="logo.png"),
                "short_description": spec.short,
                "category": categories[spec.category],
                "tags": spec.tags,
                "long_description": LONG.format(short=spec.short, publisher=publisher),
                "support_url": f"{publisher.website.rstrip('/')}/support",
                "installation_instructions": f"```\ndocker pull <registry>/{ns}/{product.slug}:1.0\n```",
                "licence_url": f"{publisher.website.rstrip('/')}/licence",
                "distribution": "paid" if paid else "free",
                "access_policy": "licence_holders" if paid else "everyone",
                "kind": spec.kind,
                "engine_compatibility": "community" if spec.community else "certified",
            },
            tiers=tiers,
        )
        screenshot = ContentFile(
            _png(1280, 720, _color(spec.name + "shot"), f"{spec.name} dashboard"), name="shot.png"
        )
        services.screenshot_add(
            actor=author, product=product, image=screenshot, caption=f"{spec.name} at work"
        )
        if spec.state == "draft":
            return
        revision = services.revision_submit(actor=author, product=product, message="Ready for review.")
        if spec.state == "published":
            services.revision_approve(actor=moderator, revision=revision, message="Welcome to the store.")
        elif spec.state == "changes_requested":
            services.revision_request_changes(
                actor=moderator, revision=revision, message="Please add a screenshot of the invoice editor."
            )

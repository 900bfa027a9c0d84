"""The store's categories: seeded by migration 0002 and ensured by the demo loader."""

from __future__ import annotations

CATEGORIES: list[tuple[str, str, str]] = [
    ("databases", "Databases", "Relational, document, key-value and time-series stores."),
    ("networking", "Networking", "Proxies, load balancers, service meshes and DNS."),
    ("business-software", "Business software", "ERP, CRM, collaboration and content management."),
    (
        "base-images",
        "Operating systems and base images",
        "Minimal, hardened starting points for your images.",
    ),
    ("programming-languages", "Programming languages", "Runtimes and toolchains."),
    ("application-frameworks", "Application frameworks", "Web and application servers and frameworks."),
    ("monitoring", "Monitoring", "Metrics, logs, tracing and alerting."),
    ("security", "Security", "Secrets, identity, scanning and policy."),
    ("storage", "Storage", "Volumes, object storage and backup."),
    ("messaging", "Messaging", "Queues, streams and event brokers."),
    ("analytics", "Analytics", "Search, BI and data processing."),
    ("developer-tools", "Developer tools", "CI/CD, source control and build tooling."),
    ("machine-learning", "Machine learning", "Model serving, notebooks and training."),
]


def categories_ensure() -> None:
    """Create or update every category (idempotent)."""
    from listings.models import Category

    for position, (slug, name, description) in enumerate(CATEGORIES, start=1):
        Category.objects.update_or_create(
            slug=slug, defaults={"name": name, "description": description, "position": position}
        )

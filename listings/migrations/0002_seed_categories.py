from django.db import migrations

CATEGORIES = [
    ("databases", "Databases", "Relational, document, key-value and time-series stores."),
    ("networking", "Networking", "Proxies, load balancers, service meshes and DNS."),
    ("business-software", "Business software", "ERP, CRM, collaboration and content management."),
    ("base-images", "Operating systems and base images", "Minimal, hardened starting points for your images."),
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


def seed(apps, schema_editor):
    Category = apps.get_model("listings", "Category")
    for position, (slug, name, description) in enumerate(CATEGORIES, start=1):
        Category.objects.update_or_create(
            slug=slug, defaults={"name": name, "description": description, "position": position}
        )


class Migration(migrations.Migration):
    dependencies = [("listings", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]

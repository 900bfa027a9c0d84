"""Indexes for searches over a large catalog. PostgreSQL only.

Broad searches rank a bounded set of candidates (listings.selectors.search); the first index
finds the products whose name holds the words, the best-ranked ones, without reading every
match. Its expression is the one ``listings.selectors.NameVector`` writes, so the planner uses it.
The second serves the search page's default order when no words are given (browsing).
"""

from django.db import migrations

FORWARD = [
    "CREATE INDEX IF NOT EXISTS product_name_vector_gin ON listings_product"
    " USING gin (to_tsvector('english'::regconfig, (name)::text))",
    "CREATE INDEX IF NOT EXISTS product_catalog_browse ON listings_product"
    " (is_featured DESC, first_published_at DESC, id DESC)"
    " WHERE status IN ('published', 'on_hold') AND live_revision_id IS NOT NULL",
]
BACKWARD = ["DROP INDEX IF EXISTS product_catalog_browse", "DROP INDEX IF EXISTS product_name_vector_gin"]


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in FORWARD:
            schema_editor.execute(statement)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in BACKWARD:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("listings", "0003_postgres_search")]

    operations = [migrations.RunPython(forward, backward)]

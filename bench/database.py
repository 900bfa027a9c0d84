"""Django for the benchmarks: the test settings on a dedicated PostgreSQL database, ``store_bench``.

The server is the one ``DATABASE_URL`` names (the local PostgreSQL by default); only the database
name is replaced, so a benchmark never writes into a development or test database.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit

BENCH_DATABASE = "store_bench"
DEFAULT_SERVER = "postgres://postgres@127.0.0.1:5432/postgres"

_ready = False


def bench_database_url(url: str | None = None) -> str:
    parts = urlsplit(url or os.environ.get("DATABASE_URL") or DEFAULT_SERVER)
    if not parts.scheme.startswith("postgres"):
        raise SystemExit(f"The benchmarks need PostgreSQL; DATABASE_URL is {parts.scheme}.")
    return urlunsplit(parts._replace(path=f"/{BENCH_DATABASE}"))


def _create_database_if_missing(url: str) -> None:
    import psycopg2
    from psycopg2 import sql

    server = urlunsplit(urlsplit(url)._replace(path="/postgres"))
    conn = psycopg2.connect(server, connect_timeout=5)
    conn.autocommit = True  # CREATE DATABASE cannot run inside a transaction
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [BENCH_DATABASE])
            if cursor.fetchone() is None:
                cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(BENCH_DATABASE)))
    finally:
        conn.close()


def setup() -> None:
    """Point Django at ``store_bench`` (created if missing), migrate it, and set Django up. Idempotent."""
    global _ready
    if _ready:
        return
    url = bench_database_url()
    _create_database_if_missing(url)
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = "store.settings_test"

    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)
    _ready = True

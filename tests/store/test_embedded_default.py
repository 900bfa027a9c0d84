"""The embedded default: with nothing configured, the store migrates and loads its demo on SQLite.

Runs ``manage.py`` as separate processes with the production settings module, DEBUG on, a
throwaway data folder, and none of the test suite's environment (no PostgreSQL, no Redis), exactly
as ``make run`` does on a fresh clone.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from accounts.models import User
from publishers.models import Membership, Publisher
from store.management.commands.load_demo import CUSTOMERS, PUBLISHERS

# What the test settings put in the environment; the embedded default must not see any of it.
SUITE_ONLY = (
    "DATABASE_URL",
    "REDIS_URL",
    "SECRET_KEY",
    "SECRET_KEY_FILE",
    "CELERY_TASK_ALWAYS_EAGER",
    "CELERY_BROKER_URL",
    "CELERY_RESULT_BACKEND",
    "SECURE_SSL_REDIRECT",
    "EMAIL_URL",
    "AWS_STORAGE_BUCKET_NAME",
    "MEDIA_ROOT",
    "DJANGO_SETTINGS_MODULE",
)
TABLES = ("accounts_user", "publishers_publisher", "publishers_membership", "audit_auditevent")


def manage(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key not in SUITE_ONLY}
    env.update(
        DJANGO_SETTINGS_MODULE="store.settings",
        DEBUG="1",
        DATABASE_URL=f"sqlite:///{data_dir / 'store.sqlite3'}",
        STORE_DATA_DIR=str(data_dir),
    )
    return subprocess.run(
        [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), *args],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def counts(database: Path) -> dict[str, int]:
    with sqlite3.connect(database) as db:
        return {table: db.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in TABLES}


def test_migrate_and_load_demo_twice_on_sqlite(tmp_path):
    """Migrating and loading the demo works on SQLite, and a second load changes nothing."""
    migrated = manage("migrate", "--no-input", data_dir=tmp_path)
    assert migrated.returncode == 0, migrated.stderr

    first = manage("load_demo", data_dir=tmp_path)
    assert first.returncode == 0, first.stderr
    after_first = counts(tmp_path / "store.sqlite3")
    second = manage("load_demo", data_dir=tmp_path)
    assert second.returncode == 0, second.stderr
    after_second = counts(tmp_path / "store.sqlite3")

    assert after_first == after_second
    assert after_first["publishers_publisher"] >= 4
    assert "0 already there" in first.stdout
    assert " 0 created" in second.stdout
    for out in (first.stdout, second.stdout):
        assert "http://127.0.0.1:8000/" in out
        assert "admin@store.example.com" in out
        assert "moderator@store.example.com" in out
        assert "password: " in out
    logos = list((tmp_path / "media" / "publishers").glob("*/logo-*.png"))
    assert len(logos) == after_first["publishers_publisher"]  # the second run uploaded nothing
    assert (tmp_path / "secret_key").exists()


@pytest.mark.django_db
def test_load_demo_on_postgresql_is_idempotent(capsys):
    """The same command on the suite's PostgreSQL (with --force, since DEBUG is off here)."""
    call_command("load_demo", force=True)
    first = (User.objects.count(), Publisher.objects.count(), Membership.objects.count())
    call_command("load_demo", force=True)
    assert (User.objects.count(), Publisher.objects.count(), Membership.objects.count()) == first

    assert Publisher.objects.filter(onboarding_completed_at__isnull=False).count() == len(PUBLISHERS) >= 4
    for publisher in Publisher.objects.all():
        assert all((publisher.support_email, publisher.self_help_link_list, publisher.response_times))
        assert publisher.logo.width == publisher.logo.height == 512
    assert (
        User.objects.filter(email__in=[email for email, _ in CUSTOMERS], memberships__isnull=True).count()
        == 3
    )
    moderator = User.objects.get(email="moderator@store.example.com")
    assert (moderator.is_staff, moderator.is_superuser) == (True, False)
    assert moderator.groups.filter(name="Moderators").exists()
    assert User.objects.get(email="admin@store.example.com").is_superuser
    assert not User.objects.filter(email_verified_at__isnull=True).exists()
    assert "found" in capsys.readouterr().out


def test_load_demo_refuses_without_debug(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="published password"):
        call_command("load_demo")

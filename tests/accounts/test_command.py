"""``manage.py create_access_token``: the token alone on stdout, clear errors on stderr."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from accounts.models import TOKEN_PREFIX, AccessToken, hash_token
from audit.models import AuditEvent, EventType

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command("create_access_token", *args, stdout=out)
    return out.getvalue()


def test_prints_only_the_token_and_stores_its_hash(user):
    output = run("ada@example.com", "--name", "deploy")

    raw = output.strip()
    assert output == raw + "\n"
    assert raw.startswith(TOKEN_PREFIX)
    token = AccessToken.objects.get(user=user)
    assert token.token_hash == hash_token(raw)
    assert token.name == "deploy"
    assert token.scopes == ["read"]
    assert token.expires_at is None
    event = AuditEvent.objects.get(event_type=EventType.TOKEN_CREATED)
    assert event.actor_id is None  # an operator, not the account's owner
    assert event.data["user"] == "ada@example.com"


def test_scopes_and_expiry(user):
    run(
        "ADA@example.com", "--name", "ci", "--scope", "registry", "--scope", "read", "--expires-in-days", "30"
    )

    token = AccessToken.objects.get()
    assert token.scopes == ["read", "registry"]
    expected = timezone.now() + timedelta(days=30)
    assert abs(token.expires_at - expected) < timedelta(minutes=1)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nobody@example.com", "--name", "x"], "No account has the email address nobody@example.com."),
        (["ada@example.com", "--name", "x", "--scope", "admin"], "scopes: “admin” is not a scope"),
        (["ada@example.com", "--name", "taken"], "name: You already have a token named “taken”"),
        (["ada@example.com", "--name", " "], "name: Give the token a name"),
        (
            ["ada@example.com", "--name", "x", "--expires-in-days", "0"],
            "--expires-in-days must be 1 or more.",
        ),
    ],
)
def test_errors_are_command_errors_with_a_clear_message(user, make_token, args, message):
    make_token(user, name="taken")

    with pytest.raises(CommandError, match=message):
        run(*args)

    assert AccessToken.objects.count() == 1


def test_from_a_shell_errors_go_to_stderr_and_stdout_stays_empty(user, settings):
    """What a script sees: nothing on stdout, the message on stderr, a non-zero exit status."""
    result = subprocess.run(
        [sys.executable, "manage.py", "create_access_token", "nobody@example.com", "--name", "x"],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        env={
            "DJANGO_SETTINGS_MODULE": "store.settings_test",
            "PATH": "",
            "DATABASE_URL": _database_url(settings),
        },
        check=False,
    )

    assert result.returncode == 1
    assert result.stdout == ""
    assert "No account has the email address nobody@example.com." in result.stderr


def _database_url(settings) -> str:
    db = settings.DATABASES["default"]
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"

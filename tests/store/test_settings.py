"""The production settings, loaded the way a deployment loads them: a fresh process, only env vars.

The test suite itself runs on ``store.settings_test``, which swaps the password hasher and more, so
everything about ``store.settings`` is checked in a subprocess with a clean environment.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _production_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DJANGO_SETTINGS_MODULE": "store.settings",
        # Keep the development fallbacks (generated key, SQLite file) out of the project's data/.
        "STORE_DATA_DIR": str(tmp_path / "data"),
        "SECRET_KEY": secrets.token_urlsafe(45)[:60],
        "ALLOWED_HOSTS": "store.example.com",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'store.sqlite3'}",
    }
    env.update(extra)
    return {key: value for key, value in env.items() if value}


def _python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_production_hashes_passwords_with_argon2(tmp_path: Path) -> None:
    proc = _python(
        "from django.conf import settings; print(settings.PASSWORD_HASHERS[0])", _production_env(tmp_path)
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "django.contrib.auth.hashers.Argon2PasswordHasher"


def test_production_defaults_are_safe(tmp_path: Path) -> None:
    code = (
        "from django.conf import settings as s; "
        "print(s.DEBUG, s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
        "s.SECURE_HSTS_SECONDS > 0, s.CELERY_TASK_ALWAYS_EAGER, s.CELERY_TASK_ACKS_LATE)"
    )
    proc = _python(code, _production_env(tmp_path))
    assert proc.returncode == 0, proc.stderr
    # No REDIS_URL: tasks run eagerly (the embedded default), everything else production-strict.
    assert proc.stdout.split() == ["False", "True", "True", "True", "True", "True", "True"]


# Warnings `check --deploy` may raise with the production environment, and why each is accepted.
ACCEPTED_DEPLOY_WARNINGS = {
    # HSTS preloading commits the whole registrable domain, subdomains included, for months; it is
    # an operator's decision (SECURE_HSTS_PRELOAD=true), not a default.
    "security.W021",
}


def _check_deploy(env: dict[str, str], fail_level: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", fail_level],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_check_deploy_reports_no_errors_and_only_accepted_warnings(tmp_path: Path) -> None:
    proc = _check_deploy(_production_env(tmp_path), fail_level="ERROR")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    reported = set(re.findall(r"\(([a-z_]+\.[EWC]\d+)\)", proc.stdout + proc.stderr))
    assert reported <= ACCEPTED_DEPLOY_WARNINGS, proc.stdout + proc.stderr


def test_check_deploy_is_clean_at_warning_level_with_hsts_preload(tmp_path: Path) -> None:
    proc = _check_deploy(_production_env(tmp_path, SECURE_HSTS_PRELOAD="true"), fail_level="WARNING")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_missing_secret_key_with_debug_off_fails_loudly(tmp_path: Path) -> None:
    proc = _python("", _production_env(tmp_path, SECRET_KEY=""))
    assert proc.returncode != 0
    assert (
        "ImproperlyConfigured: SECRET_KEY (or SECRET_KEY_FILE) must be set when DEBUG is off." in proc.stderr
    )


def test_secret_key_is_read_from_secret_key_file(tmp_path: Path) -> None:
    key = secrets.token_urlsafe(45)
    key_file = tmp_path / "secret_key"
    key_file.write_text(key + "\n")  # trailing newline as most editors and `echo` write it
    env = _production_env(tmp_path, SECRET_KEY="", SECRET_KEY_FILE=str(key_file))
    proc = _python("from django.conf import settings; print(settings.SECRET_KEY)", env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == key


def test_unreadable_secret_key_file_names_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "secret_key"
    env = _production_env(tmp_path, SECRET_KEY="", SECRET_KEY_FILE=str(missing))
    proc = _python("", env)
    assert proc.returncode != 0
    assert f"SECRET_KEY_FILE={missing} cannot be read" in proc.stderr


def test_debug_without_secret_key_keeps_a_generated_key_in_the_data_folder(tmp_path: Path) -> None:
    env = _production_env(tmp_path, SECRET_KEY="", DEBUG="true")
    code = "from django.conf import settings; print(settings.SECRET_KEY)"
    first, second = _python(code, env), _python(code, env)
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    assert (tmp_path / "data" / "secret_key").read_text().strip() == first.stdout.strip()
    assert (tmp_path / "data" / "secret_key").stat().st_mode & 0o077 == 0


def test_embedded_default_without_debug_keeps_a_generated_key_too(tmp_path: Path) -> None:
    """Plain ``manage.py`` on a fresh checkout (no DATABASE_URL: SQLite, one machine) just works."""
    env = _production_env(tmp_path, SECRET_KEY="", DATABASE_URL="")
    proc = _python("from django.conf import settings; print(settings.SECRET_KEY)", env)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "data" / "secret_key").read_text().strip() == proc.stdout.strip()


def _read_by_settings(function: str) -> set[str]:
    """Names passed to ``env.<type>("NAME", ...)`` or ``secret("NAME")`` in store/settings.py."""
    source = (ROOT / "store" / "settings.py").read_text()
    return set(re.findall(rf"""\b{function}\(\s*["']([A-Z][A-Z0-9_]+)["']""", source))


def test_every_environment_variable_is_documented_in_the_readme() -> None:
    plain = _read_by_settings(r"env(?:\.\w+)?")
    secrets_ = _read_by_settings("secret")
    assert {"DATABASE_URL", "REDIS_URL", "DEBUG"} <= plain
    assert "SECRET_KEY" in secrets_
    readme = (ROOT / "README.md").read_text()
    wanted = plain | secrets_ | {f"{name}_FILE" for name in secrets_}
    undocumented = sorted(name for name in wanted if f"`{name}`" not in readme)
    assert not undocumented, f"add these to the configuration table in README.md: {undocumented}"

"""Settings for the test suite: the real PostgreSQL and Redis on this machine unless told otherwise.

Each pytest-xdist worker gets its own test database (pytest-django adds a suffix) and its own
Redis key prefix, so parallel workers never see each other's data.
"""

import os

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/store")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-used-anywhere-else-0123456789")
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "true")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("STORE_DATA_DIR", "/tmp/store-test-data")

from store.settings import *  # noqa: F403
from store.settings import CACHES, DATA_DIR, DATABASES

DEBUG = False
ALLOWED_HOSTS = ["*"]
_worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
CACHES["default"]["KEY_PREFIX"] = f"test-{os.getpid()}-{_worker}"
MEDIA_ROOT = DATA_DIR / f"media-{_worker}"
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Hashing with argon2 costs tens of milliseconds per user; the suite creates thousands.
# Production's hasher list is asserted in tests/store/test_settings.py.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
WHITENOISE_AUTOREFRESH = True
WHITENOISE_USE_FINDERS = True
# The audit log refuses TRUNCATE except on connections that opt in; the test flush between
# transactional tests truncates every table, so only the test settings opt in.
DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c audit.allow_truncate=on"

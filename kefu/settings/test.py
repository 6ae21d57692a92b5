"""Settings for the test suite.

The database is SQLite unless DATABASE_URL is set (the PostgreSQL pass sets
it to a server the test setup starts). Celery runs tasks eagerly here; the
integration tests start a real worker on a real Redis instead.
"""

import tempfile
from pathlib import Path

from .base import *  # noqa: F403
from .base import DATABASES, LOGGING, env

SECRET_KEY = "kefu-tests-not-secret-but-long-enough-for-hs256"  # noqa: S105
DEBUG = False
ALLOWED_HOSTS = ["*"]
# Assertions read English; the tests of the Chinese default set LANGUAGE_CODE back.
LANGUAGE_CODE = "en"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
TEST_RUNTIME_DIR = Path(env("KEFU_TEST_RUNTIME_DIR", default=tempfile.mkdtemp(prefix="kefu-test-")))
KEFU_VAR_DIR = TEST_RUNTIME_DIR
STATIC_ROOT = TEST_RUNTIME_DIR / "static"
MEDIA_ROOT = TEST_RUNTIME_DIR / "media"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not memory, so a second process (a real worker) sees the data.
    DATABASES["default"]["NAME"] = str(TEST_RUNTIME_DIR / "kefu.sqlite3")
    DATABASES["default"]["TEST"] = {"NAME": str(TEST_RUNTIME_DIR / "test_kefu.sqlite3")}

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": str(TEST_RUNTIME_DIR / "cache"),
    }
}
# Unit tests run tasks eagerly. A real worker started by the integration
# fixtures gets KEFU_TEST_BROKER_URL (a Redis the fixtures start) and the test
# database through KEFU_WORKER_DATABASE_URL.
CELERY_BROKER_URL = env("KEFU_TEST_BROKER_URL", default="memory://")
CELERY_TASK_ALWAYS_EAGER = CELERY_BROKER_URL == "memory://"
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BROKER_TRANSPORT = None
CELERY_BROKER_TRANSPORT_OPTIONS = {}
CELERY_RESULT_BACKEND = env("KEFU_TEST_RESULT_BACKEND", default=None)
if env("KEFU_WORKER_DATABASE_URL", default=""):
    DATABASES = {"default": env.db("KEFU_WORKER_DATABASE_URL")}
# Each test's connections are opened and closed as pytest-django decides, not kept by age (a test that
# watches a real worker keep its connection sets this for that worker).
DATABASES["default"]["CONN_MAX_AGE"] = env.int("KEFU_TEST_CONN_MAX_AGE", default=0)

# A fixed pair of throw-away keys; tests add and rotate their own.
KEFU_ENCRYPTION_KEYS = (
    "k1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=,"
    "k0:ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA="
)
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {"anon": "10000/minute", "user": "10000/minute"},
}
KEFU_LOGIN_DELAY_SECONDS = 0.0
LOGGING = {**LOGGING, "root": {"handlers": ["console"], "level": "WARNING"}}

INSTALLED_APPS = [*INSTALLED_APPS, "tests.testapp"]
STATIC_ROOT.mkdir(parents=True, exist_ok=True)

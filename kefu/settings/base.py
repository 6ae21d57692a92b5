"""Settings shared by every environment.

Defaults run kefu on one machine with nothing else installed: SQLite for the
database, the local-memory cache and Celery's filesystem transport. Each
service switches to its production form when its URL is set.
"""

from datetime import timedelta
from pathlib import Path

import environ
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent.parent
env = environ.Env()

if env.bool("DJANGO_READ_DOT_ENV_FILE", default=True):
    env.read_env(str(BASE_DIR / ".env"))

VAR_DIR = Path(env("KEFU_VAR_DIR", default=str(BASE_DIR / "var")))

# Core ------------------------------------------------------------------------
DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env("DJANGO_SECRET_KEY", default="")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "rest_framework_simplejwt",
    "rest_framework_simplejwt.token_blacklist",
    "django_filters",
    "drf_spectacular",
    "django_celery_beat",
    "django_jsonform",
    "kefu",
    "accounts",
    "customer_service",
    "knowledge",
    "billing",
    "configs",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "kefu.middleware.KefuLocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.LoginSessionMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "kefu.urls"
WSGI_APPLICATION = "kefu.wsgi.application"
ASGI_APPLICATION = "kefu.asgi.application"
AUTH_USER_MODEL = "accounts.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Database --------------------------------------------------------------------
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'kefu.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while a worker writes; the busy timeout
    # makes a writer wait for the lock instead of failing at once.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    # Covering indexes (INCLUDE columns) speed up reports on PostgreSQL; SQLite
    # keeps them as plain indexes, which is all it needs.
    SILENCED_SYSTEM_CHECKS = ["models.W040"]
# Persistent connections with health checks: one connection per process (per thread) kept across requests
# and Celery tasks. Opening one per task cost a worker more than deciding on a buyer's line.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DJANGO_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

# Cache -----------------------------------------------------------------------
REDIS_URL = env("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "kefu.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "kefu",
        }
    }
else:
    # A file cache is shared by the web process, the worker and beat on one
    # machine, so invalidations made by one are seen by the others.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
            "KEY_PREFIX": "kefu",
        }
    }

# Auth ------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "accounts.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "admin:login"
SESSION_COOKIE_AGE = env.int("KEFU_SESSION_AGE_SECONDS", default=60 * 60 * 12)

# Login throttling: after SLOW_AFTER failures in WINDOW seconds from one ip or
# for one username, each attempt waits; after LOCK_AFTER it is refused for LOCK
# seconds.
KEFU_LOGIN_WINDOW_SECONDS = env.int("KEFU_LOGIN_WINDOW_SECONDS", default=15 * 60)
KEFU_LOGIN_SLOW_AFTER = env.int("KEFU_LOGIN_SLOW_AFTER", default=3)
KEFU_LOGIN_LOCK_AFTER = env.int("KEFU_LOGIN_LOCK_AFTER", default=5)
KEFU_LOGIN_IP_LOCK_AFTER = env.int("KEFU_LOGIN_IP_LOCK_AFTER", default=20)
KEFU_LOGIN_LOCK_SECONDS = env.int("KEFU_LOGIN_LOCK_SECONDS", default=15 * 60)
KEFU_LOGIN_DELAY_SECONDS = env.float("KEFU_LOGIN_DELAY_SECONDS", default=1.0)

# Internationalisation ------------------------------------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

# Static files ----------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
MEDIA_URL = "media/"
MEDIA_ROOT = VAR_DIR / "media"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# Encryption of secrets at rest -----------------------------------------------
# "id:base64key,id2:base64key2": the first key encrypts, every key decrypts.
KEFU_ENCRYPTION_KEYS = env("KEFU_ENCRYPTION_KEYS", default="")

# REST framework ----------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # JWT first: its WWW-Authenticate header makes a missing login a 401.
        "accounts.authentication.JWTAuthentication",
        "accounts.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": [
        "kefu.api.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_FILTER_BACKENDS": [
        "kefu.api.filters.FilterBackend",
        "rest_framework.filters.OrderingFilter",
        "rest_framework.filters.SearchFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "kefu.api.pagination.StandardPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "kefu.api.schema.AutoSchema",
    "EXCEPTION_HANDLER": "kefu.api.exceptions.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env("KEFU_THROTTLE_ANON", default="60/minute"),
        "user": env("KEFU_THROTTLE_USER", default="1200/minute"),
    },
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("KEFU_JWT_ACCESS_MINUTES", default=30)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("KEFU_JWT_REFRESH_DAYS", default=7)),
    "ROTATE_REFRESH_TOKENS": False,
    "UPDATE_LAST_LOGIN": False,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "kefu API",
    "DESCRIPTION": "AI customer service back office for Qianniu sellers.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Two apps name a choice field "scope"; give each enum its own schema name.
    "ENUM_NAME_OVERRIDES": {
        "BudgetScopeEnum": "billing.choices.BudgetScope",
        "ConfigScopeEnum": "configs.choices.ConfigScope",
        "ReviewStatusEnum": "customer_service.models.review.ReviewStatus",
        "AlertKindEnum": "customer_service.models.alerts.AlertKind",
        "AlertChannelKindEnum": "customer_service.models.alerts.AlertChannelKind",
        "SuggestionKindEnum": "customer_service.models.suggestions.SuggestionKind",
    },
}
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_URLS_REGEX = r"^/api/.*$"

# Celery ----------------------------------------------------------------------
# Without REDIS_URL the broker is kombu's filesystem transport: it needs no
# server, supports the broadcast that `celery inspect ping` and the health
# check use, and measured lower latency than sqla+sqlite (README, "Broker").
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://localhost//")
CELERY_BROKER_TRANSPORT_OPTIONS = {}
CELERY_BROKER_TRANSPORT = None
if CELERY_BROKER_URL.startswith("filesystem://"):
    # kombu's transport with whole-file writes and same-filesystem takes (kefu/broker.py says why).
    CELERY_BROKER_TRANSPORT = "kefu.broker:FilesystemTransport"
    _broker_dir = VAR_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
        "polling_interval": env.float("KEFU_BROKER_POLLING_INTERVAL", default=0.1),
    }
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=REDIS_URL or None)
CELERY_TASK_DEFAULT_QUEUE = "default"
KEFU_WORKER_QUEUES = ["default", "llm", "desktop"]
CELERY_TASK_ROUTES = {}
CELERY_TASK_ACKS_LATE = True
# Celery closes the database connection around every task unless told to reuse it: a worker then opened
# a connection (PostgreSQL: a new server process) per buyer line. It is reused for this many tasks, and
# Django still drops an unusable or expired one before each task (kefu.celery).
CELERY_DB_REUSE_MAX = env.int("KEFU_WORKER_DB_REUSE_MAX", default=1000)
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_SERIALIZER = "json"
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Queues the health check expects a worker on; the desktop queue is served by
# the seller's Windows PC and is only checked where it is listed here.
KEFU_HEALTH_QUEUES = env.list("KEFU_HEALTH_QUEUES", default=["default", "llm"])

# Configuration (configs app) ---------------------------------------------------
KEFU_CONFIG_CACHE_SECONDS = env.int("KEFU_CONFIG_CACHE_SECONDS", default=300)
KEFU_CONFIG_EXPIRY_INTERVAL_SECONDS = env.int("KEFU_CONFIG_EXPIRY_INTERVAL_SECONDS", default=60)
KEFU_CONFIG_EXPIRED_RETENTION_DAYS = env.int("KEFU_CONFIG_EXPIRED_RETENTION_DAYS", default=30)
KEFU_CONFIG_HISTORY_RETENTION_DAYS = env.int("KEFU_CONFIG_HISTORY_RETENTION_DAYS", default=180)

# Outbox (customer_service.outbox) ------------------------------------------------
# A sender (desktop or API) must give its receipt within this time of its claim, else the reply counts
# as sent but unconfirmed ("unknown") and goes to a person; it is never sent again on its own.
KEFU_OUTBOX_SEND_LEASE_SECONDS = env.int("KEFU_OUTBOX_SEND_LEASE_SECONDS", default=120)

# Desktop (customer_service.desktop) ----------------------------------------------
# The lock file every sender on one PC shares (one keyboard); empty: kefu-desktop-send.lock in the temp folder.
KEFU_DESKTOP_LOCK_PATH = env("KEFU_DESKTOP_LOCK_PATH", default="")

# Alerts (customer_service.alerts) -----------------------------------------------
# A resolved problem is announced once it stayed resolved this long; coming back sooner, it is the same outage.
KEFU_ALERT_RESOLVE_HOLD_SECONDS = env.int("KEFU_ALERT_RESOLVE_HOLD_SECONDS", default=300)
KEFU_ALERT_CHANNEL_HOURLY_LIMIT = env.int("KEFU_ALERT_CHANNEL_HOURLY_LIMIT", default=30)
KEFU_ALERT_DELIVERY_MAX_ATTEMPTS = env.int("KEFU_ALERT_DELIVERY_MAX_ATTEMPTS", default=6)
KEFU_ALERT_RETRY_BASE_SECONDS = env.int("KEFU_ALERT_RETRY_BASE_SECONDS", default=30)
KEFU_ALERT_RETRY_MAX_SECONDS = env.int("KEFU_ALERT_RETRY_MAX_SECONDS", default=3600)
KEFU_ALERT_WEBHOOK_TIMEOUT_SECONDS = env.float("KEFU_ALERT_WEBHOOK_TIMEOUT_SECONDS", default=10.0)
KEFU_ALERT_DISPATCH_INTERVAL_SECONDS = env.int("KEFU_ALERT_DISPATCH_INTERVAL_SECONDS", default=60)
KEFU_ALERT_BUDGET_CHECK_INTERVAL_SECONDS = env.int("KEFU_ALERT_BUDGET_CHECK_INTERVAL_SECONDS", default=300)
# E-mail alerts go through Django's mail backend: EMAIL_URL (smtp://user:password@host:587, smtp+tls://…,
# smtp+ssl://…, consolemail://); the default is an SMTP server on this machine.
vars().update(env.email_url("EMAIL_URL", default="smtp://localhost:25"))
DEFAULT_FROM_EMAIL = env("DJANGO_DEFAULT_FROM_EMAIL", default="kefu@localhost")

# Bootstrap -------------------------------------------------------------------
KEFU_ADMIN_USER = env("KEFU_ADMIN_USER", default="admin")
KEFU_ADMIN_PASSWORD = env("KEFU_ADMIN_PASSWORD", default="")

# Logging ---------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_secrets": {"()": "kefu.logging.RedactSecretsFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["redact_secrets"],
        }
    },
    "root": {"handlers": ["console"], "level": env("KEFU_LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # The HTTP clients of the provider SDKs log every request at INFO; the router's
        # usage records already trace each call, so only their warnings are worth a line.
        "httpx": {"level": "WARNING"},
        "httpx2": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
    },
}

ADMIN_SITE_HEADER = _("kefu customer service")

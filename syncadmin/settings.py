"""Settings for syncadmin, driven by environment variables.

With nothing set, everything runs embedded (SQLite and a filesystem Celery broker under var/);
DATABASE_URL and REDIS_URL switch to PostgreSQL and Redis for production and CI.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("SYNCADMIN_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _secret_key() -> str:
    """SECRET_KEY from the environment, else one generated once and kept under var/."""
    if key := os.environ.get("SECRET_KEY"):
        return key
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


def _credentials_keys() -> list[str]:
    """Fernet keys for mailbox credentials: SYNCADMIN_CREDENTIALS_KEY (comma-separated, newest
    first, for rotation), else one generated once and kept under var/ like the secret key."""
    if keys := os.environ.get("SYNCADMIN_CREDENTIALS_KEY"):
        return [k.strip() for k in keys.split(",") if k.strip()]
    path = VAR_DIR / "credentials_key"
    if not path.exists():
        from cryptography.fernet import Fernet

        path.write_bytes(Fernet.generate_key())
        path.chmod(0o600)
    return [path.read_text().strip()]


DATABASE_URL = os.environ.get("DATABASE_URL", "")
REDIS_URL = os.environ.get("REDIS_URL", "")
EMBEDDED = not DATABASE_URL

SECRET_KEY = _secret_key()
# Never on by default, not even in the demo: a debug page shows settings and local variables.
DEBUG = _env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = [
    h.strip()
    for h in os.environ.get("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver").split(",")
    if h.strip()
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "guardian",
    "axes",
    "security",
    "crm",
    "fieldsync",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "syncadmin.middleware.ContentSecurityPolicyMiddleware",
    # Static files without DEBUG (the demo included); the app's own files, no web server.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "syncadmin.middleware.UserTimezoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "syncadmin.middleware.OutOfRangeInputMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "syncadmin.urls"
WSGI_APPLICATION = "syncadmin.wsgi.application"
ASGI_APPLICATION = "syncadmin.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
            # {{ dt|when }}, {{ dt|when_zone }}, {% zone %}: times in the viewer's time zone.
            "builtins": ["syncadmin.timefmt"],
        },
    },
]

if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "db.sqlite3",
            # The worker and the web app share the file: wait for the other's write lock.
            "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"},
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "security.User"
AUTHENTICATION_BACKENDS = [
    # First: refuses a sign-in while the user name or the address is locked out.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
# Guardian's anonymous user is not used: anonymous requests get nothing.
ANONYMOUS_USER_NAME = None
GUARDIAN_RAISE_403 = True

if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Celery: Redis when REDIS_URL is set, else kombu's filesystem transport under var/.
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_RESULT_BACKEND = REDIS_URL
    # A task whose worker died unacknowledged is handed out again after this many seconds.
    CELERY_BROKER_TRANSPORT_OPTIONS: dict = {
        "visibility_timeout": int(os.environ.get("SYNCADMIN_BROKER_VISIBILITY_TIMEOUT", "3600"))
    }
    if CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] < 60:
        # A short timeout (tests) is useless unless unacked messages are swept as often.
        CELERY_BROKER_TRANSPORT_OPTIONS |= {
            "unacked_restore_interval": 1,
            "unacked_restore_throttle": 1,
        }
else:
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("out", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "out"),
        "data_folder_out": str(_broker_dir / "out"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
    CELERY_RESULT_BACKEND = f"file://{VAR_DIR / 'results'}"
    (VAR_DIR / "results").mkdir(exist_ok=True)
CELERY_TASK_ALWAYS_EAGER = _env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_TIMEZONE = "UTC"

# Server-side sync (fieldsync/mailboxes/): beat fans out every enabled mailbox this often.
SYNCADMIN_SYNC_INTERVAL = int(os.environ.get("SYNCADMIN_SYNC_INTERVAL", "300"))
# The per-mailbox lock expires this long after its holder stops renewing it (a dead worker);
# longer than a request the dead worker may have left in flight at the server.
SYNCADMIN_SYNC_LOCK_TIMEOUT = int(os.environ.get("SYNCADMIN_SYNC_LOCK_TIMEOUT", "180"))
SYNCADMIN_CREDENTIALS_KEYS = _credentials_keys()
# /health: a worker heartbeat older than this (seconds) means no worker runs; /metrics: a
# bearer token, when set, that Prometheus must send (syncadmin/ops.py).
SYNCADMIN_HEARTBEAT_MAX_AGE = float(
    os.environ.get("SYNCADMIN_HEARTBEAT_MAX_AGE", str(max(3 * SYNCADMIN_SYNC_INTERVAL, 60)))
)
SYNCADMIN_METRICS_TOKEN = os.environ.get("SYNCADMIN_METRICS_TOKEN", "")
# Transient sync errors retry this often, the first after about this many seconds (doubling).
SYNCADMIN_MAX_RETRIES = int(os.environ.get("SYNCADMIN_MAX_RETRIES", "4"))
SYNCADMIN_RETRY_BASE = float(os.environ.get("SYNCADMIN_RETRY_BASE", "5"))
CELERY_BEAT_SCHEDULE = {
    "fan-out-mailbox-syncs": {
        "task": "fieldsync.tasks.schedule_mailbox_syncs",
        "schedule": float(SYNCADMIN_SYNC_INTERVAL),
        # A tick that waited longer than one interval is superseded by the next one.
        "options": {"expires": float(SYNCADMIN_SYNC_INTERVAL)},
    }
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
# The organization's time zone: the pages show times in it to every user who has not chosen
# their own (My profile).
TIME_ZONE = os.environ.get("SYNCADMIN_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
# WhiteNoise serves the collected files (STATIC_ROOT) and, so that the demo needs no
# collectstatic, the apps' own folders too.
WHITENOISE_USE_FINDERS = True

# ---- HTTPS and headers ----------------------------------------------------------------------
# Production (SECRET_KEY set in the environment) is HTTPS-only: HSTS, secure cookies, redirect
# to https (behind a proxy that sets X-Forwarded-Proto). SYNCADMIN_INSECURE_HTTP=1 opts out for
# a setup served on plain HTTP; the local demo, whose key is generated under var/, is that
# setup by default. See the production table in docs.
INSECURE_HTTP = _env_bool("SYNCADMIN_INSECURE_HTTP", "SECRET_KEY" not in os.environ)
SECURE_SSL_REDIRECT = not INSECURE_HTTP
SESSION_COOKIE_SECURE = not INSECURE_HTTP
CSRF_COOKIE_SECURE = not INSECURE_HTTP
SECURE_HSTS_SECONDS = (
    0 if INSECURE_HTTP else int(os.environ.get("SYNCADMIN_HSTS_SECONDS", "31536000"))
)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy on every answer (syncadmin/middleware.py): only the app's own files.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
# The API's documentation pages (Swagger UI, ReDoc) style themselves inline and ReDoc runs a
# worker from a blob; they show no data of anyone's.
CONTENT_SECURITY_POLICY_DOCS = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

# ---- sign-in lockout (django-axes) ---------------------------------------------------------
# After this many failed sign-ins, the user name (from any address) and the address (for any
# user name) are locked out, separately, for the cool-off; every failure is kept (Admin >
# Axes > Access failures), and an administrator unlocks by deleting the access attempts.
AXES_ENABLED = _env_bool("SYNCADMIN_LOGIN_LOCKOUT", True)
AXES_FAILURE_LIMIT = int(os.environ.get("SYNCADMIN_LOGIN_FAILURE_LIMIT", "5"))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_COOLOFF_TIME = dt.timedelta(
    minutes=float(os.environ.get("SYNCADMIN_LOGIN_COOLOFF_MINUTES", "15"))
)
AXES_RESET_ON_SUCCESS = True
AXES_ENABLE_ACCESS_FAILURE_LOG = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_HTTP_RESPONSE_CODE = 429
AXES_SENSITIVE_PARAMETERS = ["password"]

# Under /api/ a refused CSRF token is the API's JSON error body (syncadmin/errors.py).
CSRF_FAILURE_VIEW = "syncadmin.errors.csrf_failure"
# Error reports (the debug page, the log) never show secrets, decrypted passwords included.
DEFAULT_EXCEPTION_REPORTER_FILTER = "syncadmin.errors.SecretsReporterFilter"

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"

REST_FRAMEWORK = {
    # Token first: its WWW-Authenticate header makes an anonymous request a 401, not a 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "syncadmin.api.Pagination",
    "PAGE_SIZE": 100,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "syncadmin.api_schema.AutoSchema",
    "DEFAULT_PARSER_CLASSES": ["syncadmin.api.StrictJSONParser"],
    "EXCEPTION_HANDLER": "syncadmin.api.exception_handler",
    "DEFAULT_METADATA_CLASS": "syncadmin.api.Metadata",
    "DEFAULT_THROTTLE_CLASSES": ["syncadmin.api.TokenClientThrottle"],
    # Requests per token client; counted in the cache (Redis when REDIS_URL is set).
    "DEFAULT_THROTTLE_RATES": {"token": os.environ.get("API_TOKEN_RATE", "1200/minute")},
}
SPECTACULAR_SETTINGS = {
    "TITLE": "syncadmin API",
    "DESCRIPTION": "Field-by-field sync settings and CRM records, with security applied.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "Direction": "fieldsync.fields.api.serializers.DIRECTIONS",
        "MailboxStatus": "fieldsync.models.mailboxes.MailboxStatus",
        "SyncRunStatus": "fieldsync.models.mailboxes.RunStatus",
        "TaskStatus": "crm.models.TaskStatus",
        "SyncFilter": "fieldsync.policy.api.serializers._FILTERS",
        # Two choice sets share the field name "kind": named here, the deploy check is clean.
        "ServerKind": "fieldsync.models.mailboxes.ServerKind",
        "DavCollectionKind": [("addressbook", "addressbook"), ("calendar", "calendar")],
    },
    "SCHEMA_PATH_PREFIX": "/api/v1",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        # Axes logs every attempt with the user name; failures and lockouts stay at WARNING.
        "axes": {"level": "WARNING"},
        # exchangelib logs whole request and response bodies (record values) at DEBUG and, on
        # some errors, at ERROR: logs are a door too. The connector reports errors in words.
        "exchangelib": {"level": "CRITICAL"},
        # MSAL's DEBUG lines describe token requests; httpx's INFO names every Graph URL.
        "msal": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
    },
}

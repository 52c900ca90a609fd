"""Settings of the credits service, read from the environment.

Every setting has a safe local default (an embedded PostgreSQL under var/, a Celery broker on the
filesystem, an in-process cache), so `manage.py runserver` works on a bare machine; production
sets the variables listed in the README (its PostgreSQL, Redis, a secret key, HTTPS).
"""

import os
import re
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("CREDITS_VAR_DIR", BASE_DIR / "var"))

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), got {raw!r}")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from exc


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_rate(name: str, default: str) -> str:
    """A throttle rate: <number>/<second|minute|hour|day>, or off."""
    rate = os.environ.get(name, default)
    if rate not in ("off", "none", "") and not re.fullmatch(
            r"\d+/(s|sec|second|m|min|minute|h|hour|d|day)", rate):
        raise ImproperlyConfigured(f"{name} must be <number>/<second|minute|hour|day> or off, "
                                   f"got {rate!r}")
    return rate


DEBUG = env_bool("DEBUG", False)

# A fixed key is only acceptable for local use; `check --deploy` flags it, production sets its own.
SECRET_KEY = os.environ.get("SECRET_KEY") or "django-insecure-local-only-credits-key-change-me"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "credits_project.apps.CreditsAdminConfig",  # django.contrib.admin with the dashboard
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_api_key",  # its AbstractAPIKey; our ApiKey (credits) is the one used
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files, served from /static/ (no CDN)
    "django_celery_beat",
    "simple_history",
    "pricing",
    "credits",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Outermost but security: turns Django's own error pages under /api/ (the DEBUG pages among
    # them) into the API's error shape.
    "credits_project.api.ApiErrorPagesMiddleware",
    "credits_project.middleware.RequestGuardMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
]

ROOT_URLCONF = "credits_project.urls"

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
        },
    },
]

WSGI_APPLICATION = "credits_project.wsgi.application"

# PostgreSQL only. Without DATABASE_URL: the embedded server in $CREDITS_VAR_DIR/postgres, started
# by the first connection of whichever process comes first (credits_project.localdb).
if os.environ.get("DATABASE_URL"):
    _database = dj_database_url.parse(os.environ["DATABASE_URL"])
    if _database["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured("DATABASE_URL must name a PostgreSQL database "
                                   "(postgres://…): PostgreSQL is the only database supported")
else:
    from credits_project.localdb import LocalServer

    _database = LocalServer(VAR_DIR / "postgres").django_settings()
_database.update(CONN_MAX_AGE=env_int("CONN_MAX_AGE", 60), CONN_HEALTH_CHECKS=True)
DATABASES = {"default": _database}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHE_URL = os.environ.get("CACHE_URL", "")
if CACHE_URL.startswith(("redis://", "rediss://")):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                          "LOCATION": CACHE_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                          "LOCATION": "credits"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
# django-celery-beat needs an aware UTC clock, or periodic tasks silently never fire.
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
# Dates as 2026-12-04 18:17 UTC on every page (credits_project/formats).
FORMAT_MODULE_PATH = ["credits_project.formats"]

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))

# Request bodies: anything larger is refused with 413 before it is parsed.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 256 * 1024)
# JSON nesting deeper than this is refused with 400 (Aleph content is at most ~6 levels deep).
API_MAX_JSON_DEPTH = env_int("API_MAX_JSON_DEPTH", 32)

# --- HTTPS and cookies: production turns these on (see README); `check --deploy` then passes.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", False)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
if env_bool("USE_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- REST API
# Account reads (balance, credit history, costs, resources, affordability) need no key, as the
# network's nodes answer them. Off: a key is needed, and an owner key reads only its account.
CREDITS_PUBLIC_ACCOUNT_READS = env_bool("CREDITS_PUBLIC_ACCOUNT_READS", True)
ESTIMATE_THROTTLE_RATE = env_rate("ESTIMATE_THROTTLE_RATE", "600/min")
# Reverse proxies in front of the service that append the address they saw to X-Forwarded-For:
# the client is the entry that many hops from the header's right end. With none, the socket's
# address is the client: anyone can write the header, so it would let them pick their identity.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)
if TRUSTED_PROXY_COUNT < 0:
    raise ImproperlyConfigured(f"TRUSTED_PROXY_COUNT must be 0 or more, got {TRUSTED_PROXY_COUNT}")

REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["credits_project.api.BoundedJSONParser"],
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "credits.auth.ApiKeyAuthentication",
        "credits.auth.OwnerTokenAuthentication",
        "credits.auth.StaffSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "UNAUTHENTICATED_USER": None,
    "EXCEPTION_HANDLER": "credits_project.api.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "credits.schema.CreditsAutoSchema",
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "credits_project.api.ExactContentNegotiation",
    # JSON only: no `?format=` switch (an unknown one was an undocumented 404).
    "URL_FORMAT_OVERRIDE": None,
    "DEFAULT_THROTTLE_RATES": {"estimates": ESTIMATE_THROTTLE_RATE},
    # Who a client is for every throttle (DRF's get_ident): unset, DRF would key on the whole
    # X-Forwarded-For header, which the client writes.
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
    "DEFAULT_PAGINATION_CLASS": None,
    "COERCE_DECIMAL_TO_STRING": True,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "credits API",
    "DESCRIPTION": (
        "Prices compute resources of an Aleph-style network and keeps prepaid credit balances. "
        "Amounts are JSON strings with 18 decimals. Every error has the shape "
        '`{"error": {"code", "message", "details"}}`.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Several serializers have a `type` field with different choices: name each enum once.
    # One schema name per choice set, whatever the field is called in each serializer.
    "ENUM_NAME_OVERRIDES": {
        "MessageTypeEnum": "pricing.enums.MessageType",
        "CostRowTypeEnum": "pricing.enums.CostRowType",
        "RemovalReasonEnum": "credits.models.RemovalReason",
        "ResourceStatusEnum": "credits.models.ResourceStatus",
        "LifecycleRunStatusEnum": "credits.models.LifecycleRunStatus",
        "EventTypeEnum": "credits.models.EventType",
    },
    # Swagger UI from drf-spectacular-sidecar's static files: /api/docs/ works without internet
    # and with the pinned version. No validator badge: it would send the schema's URL to
    # validator.swagger.io.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
}

# --- Sign-In with Ethereum (EIP-4361): what a signed message must name to be accepted here. The
# domain and URI are those of the site that asks owners to sign (compared exactly); the chain ids
# are EIP-155's (1: Ethereum mainnet).
SIWE_DOMAIN = os.environ.get("SIWE_DOMAIN", "127.0.0.1:8000")
SIWE_URI = os.environ.get("SIWE_URI", "http://127.0.0.1:8000")
try:
    SIWE_CHAIN_IDS = [int(chain_id) for chain_id in env_list("SIWE_CHAIN_IDS", ["1"])]
except ValueError as exc:
    raise ImproperlyConfigured("SIWE_CHAIN_IDS must be comma-separated integers (EIP-155 chain "
                               f"ids), got {os.environ.get('SIWE_CHAIN_IDS')!r}") from exc
# A nonce is usable once, for this long after it is handed out.
SIWE_NONCE_TTL_SECONDS = env_int("SIWE_NONCE_TTL_SECONDS", 300)
# How long an owner token lasts (logging out ends it sooner).
SIWE_TOKEN_TTL_SECONDS = env_int("SIWE_TOKEN_TTL_SECONDS", 3600)
# How far ahead of the server's clock a message's Issued At may be (a client's clock runs fast).
SIWE_CLOCK_SKEW_SECONDS = env_int("SIWE_CLOCK_SKEW_SECONDS", 30)
# Per client (by address, as ESTIMATE_THROTTLE_RATE): nonces and sign-ins, each counted apart.
SIWE_THROTTLE_RATE = env_rate("SIWE_THROTTLE_RATE", "60/min")
# Live (neither revoked nor expired) owner API keys an account may hold that it made itself.
OWNER_API_KEYS_MAX_LIVE = env_int("OWNER_API_KEYS_MAX_LIVE", 20)
for _name in ("SIWE_NONCE_TTL_SECONDS", "SIWE_TOKEN_TTL_SECONDS", "OWNER_API_KEYS_MAX_LIVE"):
    if globals()[_name] < 1:
        raise ImproperlyConfigured(f"{_name} must be 1 or more, got {globals()[_name]}")

# --- Pricing: the version in force is cached per process; this bounds how long another
# process may serve a superseded version when no shared cache carries the publish signal.
PRICING_CACHE_TTL_SECONDS = env_int("PRICING_CACHE_TTL_SECONDS", 30)
# The pricing editor's impact preview is computed while the page loads up to this many live
# resources; above it, a background dry-run job computes it.
PRICING_IMPACT_SYNC_MAX_RESOURCES = env_int("PRICING_IMPACT_SYNC_MAX_RESOURCES", 5000)

# --- Celery
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND") or None
CELERY_TIMEZONE = TIME_ZONE
CELERY_ENABLE_UTC = True
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
if CELERY_BROKER_URL.startswith("filesystem://"):
    _queue_dir = VAR_DIR / "celery" / "queue"
    _processed_dir = VAR_DIR / "celery" / "processed"
    for _folder in (_queue_dir, _processed_dir):
        _folder.mkdir(parents=True, exist_ok=True)
    # One folder for in and out: producers and the worker on this machine share it.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "processed_folder": str(_processed_dir),
        "control_folder": str(VAR_DIR / "celery" / "control"),  # else ./control in the cwd
        "store_processed": False,
    }

# --- Lifecycle (issue 4 builds the run; the switch is named in the spec)
LIFECYCLE_ALLOW_TIME_TRAVEL = env_bool("LIFECYCLE_ALLOW_TIME_TRAVEL", False)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- Lifecycle defaults (staff edit the live values in the admin: LifecycleSettings)
LIFECYCLE_GRACE_HOURS = env_int("LIFECYCLE_GRACE_HOURS", 24)
LIFECYCLE_METERING_ENABLED = env_bool("LIFECYCLE_METERING_ENABLED", True)
LIFECYCLE_FUNDING_HORIZON_HOURS = env_int("LIFECYCLE_FUNDING_HORIZON_HOURS", 24)
# Accounts per batch (one transaction each) and shards (Celery tasks in parallel) of a run.
LIFECYCLE_BATCH_ACCOUNTS = env_int("LIFECYCLE_BATCH_ACCOUNTS", 5000)
LIFECYCLE_SHARDS = env_int("LIFECYCLE_SHARDS", 1)
# Months of hourly charges `manage.py retire_charges` keeps by default, besides the current one
# (older months are rolled up per resource and their partitions dropped); at least 1.
CREDITS_CHARGE_RETENTION_MONTHS = env_int("CREDITS_CHARGE_RETENTION_MONTHS", 3)
if CREDITS_CHARGE_RETENTION_MONTHS < 1:
    raise ImproperlyConfigured("CREDITS_CHARGE_RETENTION_MONTHS must be 1 or more (runs still "
                               f"write the previous month), got {CREDITS_CHARGE_RETENTION_MONTHS}")

# --- Events and webhooks (credits.services.webhooks, docs/api.md "Events")
# Webhook URLs resolving to loopback, private, link-local or other non-public addresses are
# refused (server-side request forgery) unless this is on (tests, a private network).
WEBHOOKS_ALLOW_PRIVATE_TARGETS = env_bool("WEBHOOKS_ALLOW_PRIVATE_TARGETS", False)
# One attempt: connect, send, and the answer read, within this many seconds; at most this many
# bytes of the answer are read (its start is kept in the delivery log).
WEBHOOK_TIMEOUT_SECONDS = env_int("WEBHOOK_TIMEOUT_SECONDS", 10)
WEBHOOK_RESPONSE_MAX_BYTES = env_int("WEBHOOK_RESPONSE_MAX_BYTES", 4096)
# A delivery is retried, with exponential backoff (base, doubling, capped) and jitter, for this
# long after it was created (or resent); then it gives up.
WEBHOOK_RETRY_SECONDS = env_int("WEBHOOK_RETRY_SECONDS", 3 * 24 * 3600)
WEBHOOK_BACKOFF_BASE_SECONDS = env_int("WEBHOOK_BACKOFF_BASE_SECONDS", 5)
WEBHOOK_BACKOFF_MAX_SECONDS = env_int("WEBHOOK_BACKOFF_MAX_SECONDS", 3600)
# A sender claims a delivery for this long; if it dies meanwhile, another sends it after.
WEBHOOK_LEASE_SECONDS = env_int("WEBHOOK_LEASE_SECONDS", 60)
# An endpoint failing every attempt for this long is disabled (a notice in the admin).
WEBHOOK_DISABLE_AFTER_SECONDS = env_int("WEBHOOK_DISABLE_AFTER_SECONDS", 5 * 24 * 3600)
# Deliveries one dispatch task sends at most before it leaves the rest to the next one.
WEBHOOK_PUMP_MAX_DELIVERIES = env_int("WEBHOOK_PUMP_MAX_DELIVERIES", 500)
# A commit that writes events queues the dispatch task at once (at most once a second per
# process); the periodic task "webhook dispatch" runs anyway.
WEBHOOKS_KICK_ON_COMMIT = env_bool("WEBHOOKS_KICK_ON_COMMIT", True)
# Events older than this whose deliveries are over are deleted by the periodic task "event
# pruning"; a feed cursor before them answers 410.
EVENTS_RETENTION_DAYS = env_int("EVENTS_RETENTION_DAYS", 30)
# `account.runway_low`: the runway thresholds, in whole hours (comma-separated), each announced
# once per crossing (re-armed by a top-up); `account.credits_expiring`: lots expiring within this
# many days, each announced once. Evaluated by the lifecycle run.
try:
    EVENTS_RUNWAY_LOW_HOURS = sorted({int(hours) for hours in
                                      env_list("EVENTS_RUNWAY_LOW_HOURS", ["48", "24"])},
                                     reverse=True)
except ValueError as _exc:
    raise ImproperlyConfigured("EVENTS_RUNWAY_LOW_HOURS must be whole hours separated by commas, "
                               f"got {os.environ.get('EVENTS_RUNWAY_LOW_HOURS')!r}") from _exc
if any(not 1 <= hours <= 32767 for hours in EVENTS_RUNWAY_LOW_HOURS):
    raise ImproperlyConfigured("EVENTS_RUNWAY_LOW_HOURS: each threshold from 1 to 32767 hours, "
                               f"got {EVENTS_RUNWAY_LOW_HOURS}")
EVENTS_CREDITS_EXPIRING_DAYS = env_int("EVENTS_CREDITS_EXPIRING_DAYS", 7)
for _name in ("WEBHOOK_TIMEOUT_SECONDS", "WEBHOOK_RESPONSE_MAX_BYTES", "WEBHOOK_RETRY_SECONDS",
              "WEBHOOK_BACKOFF_BASE_SECONDS", "WEBHOOK_BACKOFF_MAX_SECONDS",
              "WEBHOOK_DISABLE_AFTER_SECONDS", "WEBHOOK_PUMP_MAX_DELIVERIES",
              "EVENTS_RETENTION_DAYS", "EVENTS_CREDITS_EXPIRING_DAYS"):
    if globals()[_name] < 1:
        raise ImproperlyConfigured(f"{_name} must be 1 or more, got {globals()[_name]}")
if WEBHOOK_LEASE_SECONDS <= WEBHOOK_TIMEOUT_SECONDS:
    raise ImproperlyConfigured("WEBHOOK_LEASE_SECONDS must be longer than "
                               "WEBHOOK_TIMEOUT_SECONDS: a delivery still being sent would be "
                               "claimed again")

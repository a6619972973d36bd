"""Settings, read from the environment.

Two modes:
- development (default): the embedded setup. SQLite file and a filesystem Celery broker under
  ``var/``, console e-mail, a local-memory cache. Nothing to install.
- production (``REALIGN_MODE=production``): every secret and service URL must be given; a missing
  one stops start-up. ``manage.py check --deploy`` reports nothing.
"""

from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("REALIGN_VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()
(VAR_DIR / "static").mkdir(parents=True, exist_ok=True)

REALIGN_MODE = env.str("REALIGN_MODE", default="development")
if REALIGN_MODE not in ("development", "production"):
    raise ImproperlyConfigured(
        f"REALIGN_MODE must be development or production, not {REALIGN_MODE!r}"
    )
PRODUCTION = REALIGN_MODE == "production"

REQUIRED_IN_PRODUCTION = (
    "DJANGO_SECRET_KEY",
    "DATABASE_URL",
    "REDIS_URL",
    "CELERY_BROKER_URL",
    "ALLOWED_HOSTS",
    "EMAIL_URL",
    "DEFAULT_FROM_EMAIL",
)
if PRODUCTION:
    missing = [name for name in REQUIRED_IN_PRODUCTION if not env.str(name, default="")]
    if missing:
        raise ImproperlyConfigured(
            "Production mode needs these environment variables: " + ", ".join(missing)
        )

DEBUG = env.bool("DJANGO_DEBUG", default=not PRODUCTION)
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DJANGO_DEBUG must be off in production mode")

# A development-only key: production has no default (checked above).
DEV_SECRET_KEY = "dev-only-insecure-key-never-use-in-production-0123456789"  # noqa: S105 - refused in production
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default=DEV_SECRET_KEY)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])


def weak_secret_key(key: str) -> str | None:
    """Why ``key`` is too weak to sign sessions and tokens, or None: shorter than 50 characters
    (Django's deploy check, security.W009), fewer than 10 different characters (W009 asks 5; any
    random key of 50 or more characters has far more), Django's ``django-insecure`` prefix or
    the development key."""
    if key == DEV_SECRET_KEY or "dev-only-insecure-key" in key:
        return "is the development key"
    if key.startswith("django-insecure"):
        return "starts with 'django-insecure' (a key startproject generated for development)"
    if len(key) < 50:
        return f"is {len(key)} characters long; use at least 50"
    if len(set(key)) < 10:
        return f"has {len(set(key))} different characters; use a random key"
    return None


if PRODUCTION:
    for _name in ("DJANGO_SECRET_KEY", "JWT_SIGNING_KEY"):  # the second defaults to the first
        _why = weak_secret_key(env.str(_name, default=SECRET_KEY))
        if _why:
            raise ImproperlyConfigured(
                f"{_name} {_why}. Production mode needs a long random key, e.g. "
                "python -c 'import secrets; print(secrets.token_urlsafe(64))'"
            )
    if any("*" in host for host in ALLOWED_HOSTS):
        raise ImproperlyConfigured(
            "ALLOWED_HOSTS must name the hosts in production mode, not a wildcard: "
            + ",".join(ALLOWED_HOSTS)
        )
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "config.apps.RealignAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "drf_standardized_errors",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "accounts",
    "reminders",
    "recovery",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "config.api.middleware.QueryStringLimitMiddleware",
    "config.api.middleware.ChunkedBodyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "config" / "templates"],
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

# --- Database -------------------------------------------------------------------------------
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'realign.sqlite3'}")
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat share one file: wait for locks instead of failing, and take the write
    # lock at the start of a transaction so two writers never deadlock on an upgrade.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE"}
    )
else:
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # Django's backend; the health check below skips its SELECT 1 when the socket shows
        # the connection open and quiet (config/db/postgresql/base.py).
        DATABASES["default"]["ENGINE"] = "config.db.postgresql"
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool(
        "DATABASE_CONN_HEALTH_CHECKS", default=True
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache (rate limits) ----------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
CACHE_URL = env.str("CACHE_URL", default=REDIS_URL)
if CACHE_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CACHE_URL,
            "KEY_PREFIX": "realign",
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Auth -------------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "accounts.backends.EmailBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PASSWORD_RESET_TIMEOUT = 60 * 60 * 2
# Patient onboarding (docs/operations.md): how long an invitation link works, and where the
# links in invitation and password-reset e-mails point (the app's URL scheme or an https
# universal link; the page and its query follow, e.g. realign://activate?token=...).
INVITATION_TTL = timedelta(days=env.int("INVITATION_TTL_DAYS", default=7))
APP_LINK_BASE = env.str("APP_LINK_BASE", default="realign://")

# ODI/NDI: fewer answered sections than this cannot be scored (of ten).
OUTCOME_MIN_SECTIONS = env.int("OUTCOME_MIN_SECTIONS", default=8)

# Red-flag alerts: minutes the care team has to acknowledge before escalation to the surgeon.
ALERT_ACKNOWLEDGE_MINUTES = {
    "emergency": env.int("ALERT_ACK_MINUTES_EMERGENCY", default=15),
    "same_day": env.int("ALERT_ACK_MINUTES_SAME_DAY", default=240),
    "within_24h": env.int("ALERT_ACK_MINUTES_WITHIN_24H", default=1440),
}
REALIGN_ADMIN_URL = env.str("REALIGN_ADMIN_URL", default="http://127.0.0.1:8000/admin/")
# Emergency access (accounts.break_glass): how long a clinician outside the care team keeps a
# record they opened with a reason.
BREAK_GLASS_MINUTES = env.int("BREAK_GLASS_MINUTES", default=60)

# Steps `seed_demo` runs after creating the demo accounts (keyword arguments: the accounts).
SEED_DEMO_STEPS = ["recovery.demo.seed.seed_recovery"]

# django-axes: lock an account from one address after repeated failures, for a cool-off period.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_USERNAME_CALLABLE = "accounts.backends.axes_username"
AXES_RESET_ON_SUCCESS = True
AXES_HTTP_RESPONSE_CODE = 429
# The client's address (lockout and rate limits): the socket's unless reverse proxies are
# declared; behind N proxies the N-th address from the right of X-Forwarded-For
# (accounts/client_address.py). Never "trust whatever the client sent".
REALIGN_PROXY_COUNT = env.int("AXES_PROXY_COUNT", default=0)
if REALIGN_PROXY_COUNT < 0:
    raise ImproperlyConfigured(
        "AXES_PROXY_COUNT must be 0 (no proxy) or the number of reverse proxies"
    )
AXES_CLIENT_IP_CALLABLE = "accounts.client_address.client_ip"

# django-otp: TOTP devices for two-factor sign-in to the admin (accounts/two_factor.py).
OTP_TOTP_ISSUER = env.str("OTP_TOTP_ISSUER", default="Realign")

# --- REST framework ---------------------------------------------------------------------------
REST_FRAMEWORK = {
    # JWT only: an admin session (which may have passed the password but not yet the
    # two-factor step) never authenticates an API call.
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.authentication.JWTAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["config.api.parsers.BoundedJSONParser"],
    # Times on the wire: UTC with "+00:00", everywhere (config/api/renderers.py).
    "DEFAULT_RENDERER_CLASSES": ["config.api.renderers.JSONRenderer"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "config.api.pagination.CursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "config.api.openapi.AutoSchema",  # every 4xx in the one shape
    "EXCEPTION_HANDLER": "config.api.errors.exception_handler",
    "DEFAULT_THROTTLE_RATES": {
        "login": env.str("THROTTLE_LOGIN", default="10/min"),
        "activation": env.str("THROTTLE_ACTIVATION", default="10/min"),
        "password_reset": env.str("THROTTLE_PASSWORD_RESET", default="5/min"),
    },
    # An int, never None: None makes DRF's throttles key on the client's own X-Forwarded-For.
    # 0 is REMOTE_ADDR; N picks the entry accounts.client_address.client_ip picks.
    "NUM_PROXIES": REALIGN_PROXY_COUNT,
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "DATETIME_FORMAT": None,  # the renderer writes datetimes (DRF's "iso-8601" writes "Z")
}

DRF_STANDARDIZED_ERRORS = {"ENABLE_IN_DEBUG_FOR_UNHANDLED_EXCEPTIONS": True}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=5),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=14),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
    # Embeds a digest of the password hash: a password change revokes every token.
    "CHECK_REVOKE_TOKEN": True,
    "USER_ID_FIELD": "id",
    "SIGNING_KEY": env.str("JWT_SIGNING_KEY", default=SECRET_KEY),
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Realign API",
    "DESCRIPTION": "Recovery tracking after revision spine surgery. See docs/api.md.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "ValidationErrorEnum": "drf_standardized_errors.openapi_serializers.ValidationErrorEnum.choices",
        "ClientErrorEnum": "drf_standardized_errors.openapi_serializers.ClientErrorEnum.choices",
        "ServerErrorEnum": "drf_standardized_errors.openapi_serializers.ServerErrorEnum.choices",
        "ErrorCode401Enum": "drf_standardized_errors.openapi_serializers.ErrorCode401Enum.choices",
        "ErrorCode403Enum": "drf_standardized_errors.openapi_serializers.ErrorCode403Enum.choices",
        "ErrorCode404Enum": "drf_standardized_errors.openapi_serializers.ErrorCode404Enum.choices",
        "ErrorCode405Enum": "drf_standardized_errors.openapi_serializers.ErrorCode405Enum.choices",
        "ErrorCode406Enum": "drf_standardized_errors.openapi_serializers.ErrorCode406Enum.choices",
        "ErrorCode415Enum": "drf_standardized_errors.openapi_serializers.ErrorCode415Enum.choices",
        "ErrorCode429Enum": "drf_standardized_errors.openapi_serializers.ErrorCode429Enum.choices",
        "ErrorCode500Enum": "drf_standardized_errors.openapi_serializers.ErrorCode500Enum.choices",
        # Three kinds of clinical record have a `status`, each with its own values.
        "PTSessionStatusEnum": "recovery.record.models.PTStatus.choices",
        "AppointmentStatusEnum": "recovery.record.models.AppointmentStatus.choices",
        "RestrictionStatusEnum": "recovery.record.models.RestrictionStatus.choices",
        "PrepItemStatusEnum": "recovery.preparation.models.PrepStatus.choices",
        "AlertStatusEnum": "recovery.care.models.AlertStatus.choices",
        "AppointmentPurposeEnum": "recovery.record.models.AppointmentPurpose.choices",
        "ImagingPurposeEnum": "recovery.preparation.models.ImagingPurpose.choices",
        "MilestoneKindEnum": "recovery.record.models.MilestoneKind.choices",
        "PrepItemKindEnum": "recovery.preparation.models.PrepKind.choices",
        "ComplicationKindEnum": "recovery.preparation.models.ComplicationKind.choices",
        "ReminderKindEnum": "reminders.models.ReminderKind.choices",
    },
    # Relative: the host that served the schema (OpenAPI 3.0, "Server Object").
    "SERVERS": [{"url": "/", "description": "The server this schema was fetched from."}],
    "POSTPROCESSING_HOOKS": [
        "drf_standardized_errors.openapi_hooks.postprocess_schema_enums",
        "config.api.openapi.postprocess_schema",
    ],
}

# --- REST API input limits (docs/api.md "Limits") ----------------------------------------------
# A JSON body over API_MAX_BODY_BYTES is a 413, one nested deeper than API_MAX_JSON_DEPTH a 400
# (config.api.parsers); a query string over API_MAX_QUERY_STRING_BYTES under /api/ is a JSON
# 414 (config.api.middleware), well below gunicorn's request-line limit (config/gunicorn.conf.py);
# 6 KB takes a sync pull's percent-encoded `migration` naming every table and column (~4.7 KB).
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=2_621_440)
API_MAX_JSON_DEPTH = env.int("API_MAX_JSON_DEPTH", default=32)
API_MAX_QUERY_STRING_BYTES = env.int("API_MAX_QUERY_STRING_BYTES", default=6144)

# --- Offline sync (docs/sync.md) --------------------------------------------------------------
# Sync schema versions the server serves (the app sends its WatermelonDB schema version).
SYNC_SCHEMA_VERSION_MIN = env.int("SYNC_SCHEMA_VERSION_MIN", default=1)
SYNC_SCHEMA_VERSION_MAX = 6
# A push larger than either limit is refused whole (413); the app splits or retries later.
SYNC_PUSH_MAX_BYTES = env.int("SYNC_PUSH_MAX_BYTES", default=1_000_000)
SYNC_PUSH_MAX_RECORDS = env.int("SYNC_PUSH_MAX_RECORDS", default=1_000)
# A chunked body (no Content-Length) is read into memory up to the largest body any endpoint
# takes, one byte past it at most (config.api.middleware.ChunkedBodyMiddleware); each endpoint
# then applies its own limit.
API_CHUNKED_BODY_MAX_BYTES = max(API_MAX_BODY_BYTES, SYNC_PUSH_MAX_BYTES)
# A paged pull (docs/sync.md, "Paged pull"): the largest page_size, and how long a cursor lasts.
SYNC_PULL_MAX_PAGE_SIZE = env.int("SYNC_PULL_MAX_PAGE_SIZE", default=1_000)
SYNC_PULL_CURSOR_MAX_AGE = env.int("SYNC_PULL_CURSOR_MAX_AGE", default=7 * 24 * 3600)
# Refused pushed records are kept this long (docs/sync.md, "Refused records"), then purged.
SYNC_REJECTED_RETENTION_DAYS = env.int("SYNC_REJECTED_RETENTION_DAYS", default=180)

# --- FHIR Bulk Data export (docs/operations.md, "Bulk Data export") ---------------------------
# How long an export's files may be downloaded after it completes; then a 410 and the files go.
BULK_EXPORT_TTL_HOURS = env.int("BULK_EXPORT_TTL_HOURS", default=24)
# The Django storage (an alias of STORAGES) the NDJSON files are written to; by default a
# directory under var/ (REALIGN_VAR_DIR), any storage backend works (S3 through django-storages).
BULK_EXPORT_STORAGE = env.str("BULK_EXPORT_STORAGE", default="bulk_exports")
BULK_EXPORT_PATIENT_CHUNK = env.int("BULK_EXPORT_PATIENT_CHUNK", default=100)
# _since also returns rows stamped this long before it: a write stamped before an export's
# transactionTime that committed after the export read its table is caught by the next one.
BULK_EXPORT_SINCE_OVERLAP_SECONDS = env.int("BULK_EXPORT_SINCE_OVERLAP_SECONDS", default=300)
BULK_EXPORT_MAX_ACTIVE_PER_CLINIC = env.int("BULK_EXPORT_MAX_ACTIVE_PER_CLINIC", default=2)
# Below the broker's redelivery (CELERY_VISIBILITY_TIMEOUT, 1200 s; RabbitMQ's consumer_timeout):
# the hard limit is this + 60 s (tests/config/test_brokers.py). 1,000 patients take ~2 minutes.
BULK_EXPORT_TIME_LIMIT = env.int("BULK_EXPORT_TIME_LIMIT", default=1080)
# A worker renews its claim on a job after every chunk of patients; a claim not renewed for
# this long (the worker died) lets the redelivered task, or the purge sweep, start it again.
BULK_EXPORT_LEASE_SECONDS = env.int("BULK_EXPORT_LEASE_SECONDS", default=300)
BULK_EXPORT_MAX_ATTEMPTS = env.int("BULK_EXPORT_MAX_ATTEMPTS", default=3)
# A patient's download of their record (recovery.fhir.patient_export): where the zip is kept
# and for how long.
PATIENT_EXPORT_STORAGE = env.str("PATIENT_EXPORT_STORAGE", default="patient_exports")
PATIENT_EXPORT_TTL_HOURS = env.int("PATIENT_EXPORT_TTL_HOURS", default=72)

# --- Celery -----------------------------------------------------------------------------------
# The host part only keeps kombu from warning "No hostname was supplied" at every connection.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://localhost/")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),  # kombu's default is ./control
        "store_processed": False,
    }
elif CELERY_BROKER_URL.split("://", 1)[0] in ("amqp", "amqps", "pyamqp"):
    # RabbitMQ (docs/operations.md, "Choosing a broker"). Queues are classic and durable,
    # messages persistent (Celery's defaults, kept explicit below). Publisher confirms: a publish
    # returns only once the broker has taken the message (on disk, for a persistent message to
    # a durable queue), so a broker that dies mid-publish is an error (the claimed rows' lease
    # brings them back) rather than a message silently gone.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"confirm_publish": True}
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Longer than any task may wait in a worker's prefetch and run (the longest time limit
        # is 900 s, reminders.plan_daily_checkins; a test keeps it so): a late-acked task is not
        # handed to a second worker while the first still works on it.
        "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=1200),
    }
CELERY_TASK_IGNORE_RESULT = True
# Task modules autodiscovery does not find (it looks for <app>.tasks only).
CELERY_IMPORTS = [
    "recovery.care.tasks",
    "recovery.photos.tasks",
    "recovery.sync.tasks",
    "recovery.webhooks.tasks",
    "recovery.fhir.tasks",
]
CELERY_RESULT_BACKEND = None
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_ENABLE_UTC = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# RabbitMQ closes a channel whose delivery stays unacknowledged longer than its
# consumer_timeout (default 30 min): every task's time limit stays below it and below the Redis
# visibility timeout (tested), and no task is ever sent with an ETA or countdown (those wait
# unacknowledged in the worker).
CELERY_TASK_TIME_LIMIT = 120
CELERY_TASK_SOFT_TIME_LIMIT = 100
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_RETRY = True
# Durable classic queues and persistent messages (Celery's defaults): on RabbitMQ, queued tasks
# survive a broker restart. Quorum queues are for a RabbitMQ cluster (docs/operations.md).
CELERY_TASK_DEFAULT_QUEUE_TYPE = "classic"
CELERY_TASK_DEFAULT_DELIVERY_MODE = "persistent"
# On a lost broker connection a running late-acked task is left to finish (its rows commit as
# sent) rather than cancelled mid provider call; the broker redelivers its message, and that
# copy finds the rows sent (row lock + status), so it sends nothing. Celery 6 changes the
# default to True, hence explicit.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
# Beat saves its schedule after every task it sends: the file's age is its health (config/beat_health.py).
CELERY_BEAT_SYNC_EVERY = 1
CELERY_BEAT_SCHEDULE = {
    "flush-expired-tokens": {"task": "accounts.flush_expired_tokens", "schedule": 24 * 60 * 60},
    "deidentify-erased-patients": {
        "task": "accounts.deidentify_erased_patients",
        "schedule": 24 * 60 * 60,
    },
    "escalate-alerts": {"task": "recovery.escalate_alerts", "schedule": 60.0},
    "purge-rejected-records": {
        "task": "recovery.purge_rejected_records",
        "schedule": 24 * 60 * 60,
        "options": {"expires": 60 * 60},
    },
    # Deletes expired exports' files, restarts jobs whose worker died (recovery/fhir/tasks.py).
    "bulk-export-sweep": {
        "task": "recovery.fhir_bulk_export_sweep",
        "schedule": 15 * 60,
        "options": {"expires": 10 * 60},
    },
    "patient-exports-purge": {
        "task": "recovery.patient_exports_purge",
        "schedule": 60 * 60,
        "options": {"expires": 50 * 60},
    },
    # Plain UTC intervals (no local-time crontab): patients' local times are computed in the
    # application. Safe with two beats running: claims use SKIP LOCKED, plans a dedup key.
    "reminders-dispatch-due": {
        "task": "reminders.dispatch_due",
        "schedule": env.float("REMINDERS_DISPATCH_INTERVAL", default=60.0),
        "options": {"expires": 55},
    },
    "reminders-plan-daily-checkins": {
        "task": "reminders.plan_daily_checkins",
        "schedule": 60 * 60,
        "options": {"expires": 50 * 60},
    },
    # Webhook deliveries whose message was lost, or whose retry is too far off for a countdown
    # (docs/webhooks.md). Two beats are harmless: SKIP LOCKED, and each attempt is claimed.
    "webhooks-sweep": {
        "task": "recovery.webhooks_sweep",
        "schedule": env.float("WEBHOOK_SWEEP_INTERVAL", default=30.0),
        "options": {"expires": 25},
    },
}

# --- E-mail -----------------------------------------------------------------------------------
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Realign <no-reply@realign.local>")

# --- Push (FCM / APNs); the push channel is off when these are empty --------------------------
FCM_CREDENTIALS_FILE = env.str("FCM_CREDENTIALS_FILE", default="")
FCM_PROJECT_ID = env.str("FCM_PROJECT_ID", default="")
APNS_KEY_FILE = env.str("APNS_KEY_FILE", default="")
APNS_KEY_ID = env.str("APNS_KEY_ID", default="")
APNS_TEAM_ID = env.str("APNS_TEAM_ID", default="")
APNS_TOPIC = env.str("APNS_TOPIC", default="")
APNS_USE_SANDBOX = env.bool("APNS_USE_SANDBOX", default=not PRODUCTION)

# --- Reminders (docs/tasks.md) ----------------------------------------------------------------
REMINDERS_CHANNELS = env.list("REMINDERS_CHANNELS", default=["push", "email", "inbox"])
REMINDERS_CHANNEL_BACKENDS = {
    "push": "reminders.channels.push.PushChannel",
    "email": "reminders.channels.email.EmailChannel",
    "inbox": "reminders.channels.inbox.InboxChannel",
}
# Tests and benchmarks only: deliver every channel through this class (e.g. the recording one).
REMINDERS_CHANNEL_BACKEND_OVERRIDE = env.str("REMINDERS_CHANNEL_BACKEND_OVERRIDE", default="")
REMINDERS_DISPATCH_BATCH = env.int("REMINDERS_DISPATCH_BATCH", default=500)
REMINDERS_DELIVERY_CHUNK = env.int("REMINDERS_DELIVERY_CHUNK", default=25)
REMINDERS_DISPATCH_TIME_BUDGET = env.float("REMINDERS_DISPATCH_TIME_BUDGET", default=45.0)
# Longer than a delivery task may wait in the queue and run (its time limit is 300 s).
REMINDERS_CLAIM_LEASE_SECONDS = env.int("REMINDERS_CLAIM_LEASE_SECONDS", default=600)
REMINDERS_MAX_ATTEMPTS = env.int("REMINDERS_MAX_ATTEMPTS", default=5)
REMINDERS_RETRY_BACKOFF_SECONDS = env.float("REMINDERS_RETRY_BACKOFF_SECONDS", default=60.0)
REMINDERS_RETRY_BACKOFF_MAX_SECONDS = env.float(
    "REMINDERS_RETRY_BACKOFF_MAX_SECONDS", default=3600.0
)
REMINDERS_PROVIDER_TIMEOUT = env.int("REMINDERS_PROVIDER_TIMEOUT", default=10)
# PostgreSQL: push/e-mail deliveries commit without waiting for the WAL flush (docs/tasks.md).
REMINDERS_DELIVERY_ASYNC_COMMIT = env.bool("REMINDERS_DELIVERY_ASYNC_COMMIT", default=True)
PATIENT_SETTINGS_CHANGED_HOOKS = ["reminders.services.patient_reminders_replan"]
# Called inside the transaction of every caregiver grant, change and revocation
# (accounts.caregivers), with keyword argument ``grant``.
CAREGIVER_GRANT_CHANGED_HOOKS = ["reminders.services.caregiver_reminders_sync"]
# Called inside the erasure's transaction when a clinic admin confirms an account deletion
# (accounts.erasure), with keyword argument ``profile``.
PATIENT_ERASED_HOOKS = [
    "reminders.services.patient_reminders_erase",
    "accounts.caregivers.patient_caregivers_revoke",
]
# How long the clinical record of a deleted account is kept, identifiable to the clinic, before
# it is de-identified (the clinic's retention policy; 0: at once). docs/operations.md.
CLINICAL_RECORD_RETENTION_YEARS = env.int("CLINICAL_RECORD_RETENTION_YEARS", default=10)

# --- Webhooks (docs/webhooks.md) --------------------------------------------------------------
WEBHOOK_CONNECT_TIMEOUT_SECONDS = env.float("WEBHOOK_CONNECT_TIMEOUT_SECONDS", default=5.0)
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=10.0)  # the answer's wait
WEBHOOK_CLAIM_MARGIN_SECONDS = env.float("WEBHOOK_CLAIM_MARGIN_SECONDS", default=30.0)
WEBHOOK_MAX_ATTEMPTS = env.int("WEBHOOK_MAX_ATTEMPTS", default=10)
WEBHOOK_RETRY_BACKOFF_SECONDS = env.float("WEBHOOK_RETRY_BACKOFF_SECONDS", default=30.0)
WEBHOOK_RETRY_BACKOFF_MAX_SECONDS = env.float(
    "WEBHOOK_RETRY_BACKOFF_MAX_SECONDS", default=6 * 60 * 60.0
)
# Retries due within this are sent as a broker countdown (under the Redis visibility timeout);
# later ones by the sweep.
WEBHOOK_COUNTDOWN_MAX_SECONDS = env.float("WEBHOOK_COUNTDOWN_MAX_SECONDS", default=300.0)
WEBHOOK_SWEEP_GRACE_SECONDS = env.float("WEBHOOK_SWEEP_GRACE_SECONDS", default=60.0)
WEBHOOK_SWEEP_BATCH = env.int("WEBHOOK_SWEEP_BATCH", default=500)
WEBHOOK_DISABLE_AFTER_FAILURES = env.int("WEBHOOK_DISABLE_AFTER_FAILURES", default=15)
WEBHOOK_SECRET_ROTATION_GRACE_SECONDS = env.int(
    "WEBHOOK_SECRET_ROTATION_GRACE_SECONDS", default=24 * 60 * 60
)
WEBHOOK_REQUIRE_HTTPS = env.bool("WEBHOOK_REQUIRE_HTTPS", default=PRODUCTION)
# Off in production: an endpoint whose host resolves to a loopback, private or link-local
# address is refused at each attempt (no requests into the hosting network).
WEBHOOK_ALLOW_PRIVATE_ADDRESSES = env.bool(
    "WEBHOOK_ALLOW_PRIVATE_ADDRESSES", default=not PRODUCTION
)

# --- Internationalisation and time ------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files -----------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
# --- Wound photos (docs/operations.md, "Wound photo storage") ------------------------------------
# "filesystem": files under var/wound-photos (the embedded default, one machine); "s3": an
# S3-compatible bucket (MinIO, AWS S3), which production uses so web and workers stay stateless.
WOUND_PHOTO_STORAGE = env.str("WOUND_PHOTO_STORAGE", default="filesystem")
if WOUND_PHOTO_STORAGE not in ("filesystem", "s3"):
    raise ImproperlyConfigured(
        f"WOUND_PHOTO_STORAGE must be filesystem or s3, not {WOUND_PHOTO_STORAGE!r}"
    )
# How long a signed URL to a photo works (S3 presigned URL, or the filesystem token).
WOUND_PHOTO_URL_MAX_AGE = env.int("WOUND_PHOTO_URL_MAX_AGE", default=300)
# An upload over this many bytes is a 413; an image over this many pixels too (a
# decompression bomb is a small file that decodes to a huge bitmap).
WOUND_PHOTO_MAX_BYTES = env.int("WOUND_PHOTO_MAX_BYTES", default=15 * 1024 * 1024)
WOUND_PHOTO_MAX_PIXELS = env.int("WOUND_PHOTO_MAX_PIXELS", default=50_000_000)
WOUND_PHOTO_THUMBNAIL_PX = env.int("WOUND_PHOTO_THUMBNAIL_PX", default=320)
if WOUND_PHOTO_STORAGE == "s3":
    _missing_s3 = [n for n in ("WOUND_PHOTO_S3_BUCKET",) if not env.str(n, default="")]
    if _missing_s3:
        raise ImproperlyConfigured("WOUND_PHOTO_STORAGE=s3 needs " + ", ".join(_missing_s3))
    WOUND_PHOTO_STORAGE_CONFIG = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env.str("WOUND_PHOTO_S3_BUCKET"),
            # Empty: AWS itself. MinIO or another S3 API: its URL, reachable by the phones too
            # (presigned URLs name this host).
            "endpoint_url": env.str("WOUND_PHOTO_S3_ENDPOINT_URL", default="") or None,
            # Empty: boto3's own chain (instance role, AWS_* variables).
            "access_key": env.str("WOUND_PHOTO_S3_ACCESS_KEY_ID", default="") or None,
            "secret_key": env.str("WOUND_PHOTO_S3_SECRET_ACCESS_KEY", default="") or None,
            "region_name": env.str("WOUND_PHOTO_S3_REGION", default="") or None,
            "location": env.str("WOUND_PHOTO_S3_PREFIX", default="wound-photos"),
            "addressing_style": env.str("WOUND_PHOTO_S3_ADDRESSING_STYLE", default="path"),
            "signature_version": "s3v4",
            "default_acl": None,  # the bucket's (private); never public-read
            "querystring_auth": True,  # every URL presigned
            "querystring_expire": WOUND_PHOTO_URL_MAX_AGE,
            "file_overwrite": False,  # a racing second upload never replaces the first's file
        },
    }
else:
    WOUND_PHOTO_STORAGE_CONFIG = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {
            "location": str(VAR_DIR / "wound-photos"),
            "base_url": "/no-public-url/",  # never served as files: signed views only
            "file_permissions_mode": 0o600,
            "directory_permissions_mode": 0o700,
        },
    }

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "wound_photos": WOUND_PHOTO_STORAGE_CONFIG,
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
STORAGES["patient_exports"] = {
    "BACKEND": "django.core.files.storage.FileSystemStorage",
    "OPTIONS": {"location": str(VAR_DIR / "patient_exports")},
}
STORAGES["bulk_exports"] = {
    "BACKEND": "django.core.files.storage.FileSystemStorage",
    "OPTIONS": {"location": str(VAR_DIR / "bulk_exports")},
}
WHITENOISE_USE_FINDERS = not PRODUCTION

# --- Sessions and security --------------------------------------------------------------------
SESSION_COOKIE_AGE = env.int("SESSION_IDLE_TIMEOUT_SECONDS", default=30 * 60)
SESSION_SAVE_EVERY_REQUEST = True  # the age above is an inactivity timeout
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # Django's own console handler would print every line a second time.
        "django": {"handlers": [], "propagate": True},
        # 4xx answers are in the access log already (gunicorn's accesslog); 5xx stay ERROR here.
        "django.request": {"level": "ERROR"},
        "django.db.backends": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
    },
}

"""Settings, read from the environment (see docs/operations.md for every variable).

SHOUYIN_ENV selects the mode: development (the default), test, or production. Production refuses
to start with DEBUG on, without a real SECRET_KEY, or without DATABASE_URL and REDIS_URL; the other
modes start embedded PostgreSQL and Redis when those URLs are unset.
"""

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config import embedded
from config.env import (
    env_bool,
    env_choice,
    env_int,
    env_list,
    env_str,
    env_timezone,
    env_url,
    redis_url_with_db,
    test_redis_db,
)

BASE_DIR = Path(__file__).resolve().parents[2]

SHOUYIN_ENV = env_choice("SHOUYIN_ENV", "development", ("development", "test", "production"))
PRODUCTION = SHOUYIN_ENV == "production"

DEVELOPMENT_SECRET_KEY = "django-insecure-shouyin-development-key-never-use-in-production"  # noqa: S105 - refused in production
DEBUG = env_bool("DEBUG", default=not PRODUCTION)
SECRET_KEY = env_str("SECRET_KEY", default="" if PRODUCTION else DEVELOPMENT_SECRET_KEY)

if PRODUCTION:
    if DEBUG:
        raise ImproperlyConfigured("DEBUG must be false when SHOUYIN_ENV=production.")
    if not SECRET_KEY:
        raise ImproperlyConfigured("SECRET_KEY is required when SHOUYIN_ENV=production.")
    if SECRET_KEY == DEVELOPMENT_SECRET_KEY or len(SECRET_KEY) < 32:
        raise ImproperlyConfigured(
            "SECRET_KEY must be a random value of at least 32 characters in production, "
            "not the development key."
        )

ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS", [] if PRODUCTION else ["localhost", "127.0.0.1", "[::1]", "testserver"]
)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
TIME_ZONE = env_timezone("TIME_ZONE", "Asia/Shanghai")
USE_TZ = True  # stored in UTC, shown in TIME_ZONE or the store's own zone
LANGUAGE_CODE = "en-us"
USE_I18N = True
LOG_LEVEL = env_choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"))
LOG_FORMAT = env_choice("LOG_FORMAT", "json" if PRODUCTION else "text", ("json", "text"))

FIELD_ENCRYPTION_KEYS = env_list("FIELD_ENCRYPTION_KEYS", [])

# --- Services -------------------------------------------------------------------------------------

_database_url = env_url("DATABASE_URL", ("postgres", "postgresql"))
_redis_url = env_url("REDIS_URL", ("redis", "rediss"))
if PRODUCTION and not (_database_url and _redis_url):
    raise ImproperlyConfigured(
        "DATABASE_URL and REDIS_URL are required when SHOUYIN_ENV=production."
    )
EMBEDDED_DATABASE = _database_url is None
EMBEDDED_REDIS = _redis_url is None
DATABASE_URL = _database_url or embedded.postgres_url()
REDIS_URL = _redis_url or embedded.redis_url()
if SHOUYIN_ENV == "test":
    # Each parallel test process (pytest-xdist's gw0, gw1, ...) gets a Redis database of its own,
    # so a Celery worker started by one test process never takes another's tasks.
    REDIS_URL = redis_url_with_db(REDIS_URL, test_redis_db())

DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0)}
DATABASES["default"]["OPTIONS"] = {
    # Django's built-in psycopg 3 pool; CONN_MAX_AGE must stay 0 with it.
    "pool": {
        "min_size": env_int("DATABASE_POOL_MIN", 1, minimum=0),
        "max_size": env_int("DATABASE_POOL_MAX", 10, minimum=1),
        "timeout": env_int("DATABASE_POOL_TIMEOUT", 10, minimum=1),
    },
    "connect_timeout": env_int("DATABASE_CONNECT_TIMEOUT", 5, minimum=1),
}
DATABASES["default"]["TEST"] = {"NAME": env_str("DATABASE_TEST_NAME", "test_shouyin")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "shouyin",
        "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
    }
}

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [REDIS_URL],
            "prefix": "shouyin:asgi",
            "capacity": env_int("CHANNEL_LAYER_CAPACITY", 500, minimum=10),
            "expiry": 30,
        },
    }
}

# --- Celery (see config/celery.py) ----------------------------------------------------------------

CELERY_BROKER_URL = env_url("CELERY_BROKER_URL", ("redis", "rediss", "amqp")) or REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_RESULT_EXPIRES = 3600
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
# Tasks are written to be idempotent, so a task whose worker died mid-run is delivered again.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 60, minimum=1)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 90, minimum=2)
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Redis redelivers an unacknowledged task after this many seconds; every countdown and ETA the
# platform schedules stays far below it, or a waiting task would be delivered twice.
CELERY_VISIBILITY_TIMEOUT = env_int("CELERY_VISIBILITY_TIMEOUT", 3600, minimum=60)
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_VISIBILITY_TIMEOUT}
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_VISIBILITY_TIMEOUT}
CELERY_TIMEZONE = "UTC"
CELERY_ENABLE_UTC = True
CELERY_BEAT_SCHEDULE_FILENAME = str(BASE_DIR / "var" / "celerybeat-schedule")
# The periodic schedule, in code: apps add their entries here, next to the others.
CELERY_BEAT_SCHEDULE: dict[str, dict] = {}
WORKER_HEARTBEAT_SECONDS = 5
WORKER_HEARTBEAT_TTL = 30

# --- Terminals (docs/terminal-protocol.md) -------------------------------------------------------

TERMINAL_HEARTBEAT_INTERVAL = env_int("TERMINAL_HEARTBEAT_INTERVAL", 30, minimum=5)
TERMINAL_HEARTBEAT_GRACE = env_int("TERMINAL_HEARTBEAT_GRACE", 15, minimum=1)
TERMINAL_RECENTLY_SEEN_SECONDS = env_int("TERMINAL_RECENTLY_SEEN_SECONDS", 900, minimum=10)
TERMINAL_AUTH_TIMEOUT = env_int("TERMINAL_AUTH_TIMEOUT", 10, minimum=1)
TERMINAL_AUTH_ATTEMPTS_PER_MINUTE = env_int("TERMINAL_AUTH_ATTEMPTS_PER_MINUTE", 30, minimum=1)
TERMINAL_RATE_PER_SECOND = env_int("TERMINAL_RATE_PER_SECOND", 5, minimum=1)
TERMINAL_RATE_BURST = env_int("TERMINAL_RATE_BURST", 30, minimum=1)
TERMINAL_DEDUP_SECONDS = 86400
TERMINAL_MAX_RESEND = 100
TERMINAL_ACTIVATION_CODE_TTL = env_int("TERMINAL_ACTIVATION_CODE_TTL", 7 * 86400, minimum=60)
TERMINAL_SECRET_OVERLAP_SECONDS = 86400
TERMINAL_PRESENCE_WRITE_SECONDS = 1.0
TERMINAL_PRESENCE_FLUSH_SECONDS = env_int("TERMINAL_PRESENCE_FLUSH_SECONDS", 5, minimum=1)
TERMINAL_EVENT_RETENTION_DAYS = env_int("TERMINAL_EVENT_RETENTION_DAYS", 90, minimum=1)
CELERY_BEAT_SCHEDULE["terminals.presence_flush"] = {
    "task": "terminals.presence_flush",
    "schedule": float(TERMINAL_PRESENCE_FLUSH_SECONDS),
    "options": {"expires": float(TERMINAL_PRESENCE_FLUSH_SECONDS)},
}
CELERY_BEAT_SCHEDULE["terminals.commands_expire"] = {
    "task": "terminals.commands_expire",
    "schedule": 60.0,
}
CELERY_BEAT_SCHEDULE["terminals.events_retention"] = {
    "task": "terminals.events_retention",
    "schedule": 3600.0,
}

# --- WeChat Pay (payments/gateway) and the sandbox provider (payments/sandbox, docs/sandbox.md) -----

# The sandbox's dev account: public test values, never a real merchant's (refused in production).
SANDBOX_WECHATPAY_ENABLED = env_bool("SANDBOX_WECHATPAY_ENABLED", default=not PRODUCTION)
if PRODUCTION and SANDBOX_WECHATPAY_ENABLED:
    raise ImproperlyConfigured("SANDBOX_WECHATPAY_ENABLED must be false in production.")
SANDBOX_WECHATPAY_APPID = env_str("SANDBOX_WECHATPAY_APPID", "wxd930ea5d5a258f4f")
SANDBOX_WECHATPAY_MCH_ID = env_str("SANDBOX_WECHATPAY_MCH_ID", "10000100")
SANDBOX_WECHATPAY_API_KEY = env_str("SANDBOX_WECHATPAY_API_KEY", "192006250b4c09247ec02edce69f6a2d")
# Sub-merchants of the demo merchants; with STRICT, any other sub_mch_id is refused (NOAUTH).
SANDBOX_WECHATPAY_SUB_MCH_IDS = env_list(
    "SANDBOX_WECHATPAY_SUB_MCH_IDS", ["1900000109", "1900000110", "1900000111"]
)
SANDBOX_WECHATPAY_STRICT_SUB_MCH = env_bool("SANDBOX_WECHATPAY_STRICT_SUB_MCH", default=False)
_TESTING = SHOUYIN_ENV == "test"
SANDBOX_WECHATPAY_USERPAYING_MS = env_int(
    "SANDBOX_WECHATPAY_USERPAYING_MS", 1000 if _TESTING else 5000, minimum=0
)
SANDBOX_WECHATPAY_NO_ANSWER_MS = env_int(
    "SANDBOX_WECHATPAY_NO_ANSWER_MS", 3000 if _TESTING else 15000, minimum=0
)
SANDBOX_WECHATPAY_REFUND_MS = env_int(
    "SANDBOX_WECHATPAY_REFUND_MS", 500 if _TESTING else 3000, minimum=0
)
SANDBOX_WECHATPAY_REVERSE_RECALLS = env_int("SANDBOX_WECHATPAY_REVERSE_RECALLS", 1, minimum=0)
SANDBOX_WECHATPAY_NOTIFY_RETRY_MS = [
    int(item)
    for item in env_list(
        "SANDBOX_WECHATPAY_NOTIFY_RETRY_MS",
        ["200", "400", "800"] if _TESTING else ["2000", "5000", "15000", "30000", "60000"],
    )
]
SANDBOX_WECHATPAY_ADMIN_TOKEN = env_str(
    "SANDBOX_WECHATPAY_ADMIN_TOKEN", "" if PRODUCTION else "sandbox-admin-dev-token"
)
if SANDBOX_WECHATPAY_ENABLED:
    CELERY_BEAT_SCHEDULE["sandbox-wechatpay-notifications"] = {
        "task": "sandbox.sweep_notifications",
        "schedule": 30.0,
    }

# The platform's service-provider account. Outside production it defaults to the sandbox.
WECHATPAY_BASE_URL = env_url("WECHATPAY_BASE_URL", ("https", "http")) or (
    "https://api.mch.weixin.qq.com"
    if PRODUCTION
    else f"http://127.0.0.1:{env_int('PORT', 8000, minimum=1)}/sandbox/wechatpay"
)
WECHATPAY_APPID = env_str("WECHATPAY_APPID", "" if PRODUCTION else SANDBOX_WECHATPAY_APPID)
WECHATPAY_MCH_ID = env_str("WECHATPAY_MCH_ID", "" if PRODUCTION else SANDBOX_WECHATPAY_MCH_ID)
WECHATPAY_API_KEY = env_str("WECHATPAY_API_KEY", "" if PRODUCTION else SANDBOX_WECHATPAY_API_KEY)
WECHATPAY_SIGN_TYPE = env_choice("WECHATPAY_SIGN_TYPE", "HMAC-SHA256", ("MD5", "HMAC-SHA256"))
WECHATPAY_CERT_PATH = env_str("WECHATPAY_CERT_PATH", "")  # apiclient_cert.pem (secapi)
WECHATPAY_KEY_PATH = env_str("WECHATPAY_KEY_PATH", "")  # apiclient_key.pem
WECHATPAY_CA_BUNDLE = env_str("WECHATPAY_CA_BUNDLE", "")  # default: the system CA bundle
WECHATPAY_CONNECT_TIMEOUT_MS = env_int("WECHATPAY_CONNECT_TIMEOUT_MS", 3000, minimum=100)
WECHATPAY_READ_TIMEOUT_MS = env_int("WECHATPAY_READ_TIMEOUT_MS", 10000, minimum=100)
WECHATPAY_NOTIFY_URL = env_str("WECHATPAY_NOTIFY_URL", "")

# --- Payments (payments/, docs/api.md "Payments") -----------------------------------------------

PAYMENTS_MAX_AMOUNT_FEN = env_int("PAYMENTS_MAX_AMOUNT_FEN", 5_000_000, minimum=1)  # 50,000 yuan
PAYMENTS_CLIENT_IP = env_str("PAYMENTS_CLIENT_IP", "127.0.0.1")  # spbill_create_ip
# A till's scanned micropay taken on the event loop (payments.till_lane); false: always the view.
PAYMENTS_TILL_FAST_PATH = env_bool("PAYMENTS_TILL_FAST_PATH", True)
# Where the provider posts native-order notifications (outside production: this platform).
PAYMENTS_NOTIFY_URL = env_str(
    "PAYMENTS_NOTIFY_URL",
    ""
    if PRODUCTION
    else f"http://127.0.0.1:{env_int('PORT', 8000, minimum=1)}/payments/wechatpay/notify",
)
# Overrides of payments.schedule.Schedule (seconds); the reference's values by default.
PAYMENTS_SCHEDULE: dict = {}
# "poller" (default, chosen by measurement: docs/performance.md "Payments"): beat runs the
# dispatcher every PAYMENTS_DISPATCH_MS, which claims due rows with SKIP LOCKED and sends their
# tasks. "countdown": tasks are sent after commit with a countdown, and the dispatcher only sweeps
# rows overdue by PAYMENTS_SWEEP_GRACE seconds (chains lost to a crash).
PAYMENTS_FOLLOW_UP_MODE = env_choice("PAYMENTS_FOLLOW_UP_MODE", "poller", ("countdown", "poller"))
PAYMENTS_SWEEP_GRACE = env_int("PAYMENTS_SWEEP_GRACE", 15, minimum=0)
PAYMENTS_DISPATCH_SECONDS = float(env_int("PAYMENTS_DISPATCH_MS", 250, minimum=50)) / 1000
PAYMENTS_DISPATCH_BATCH = env_int("PAYMENTS_DISPATCH_BATCH", 1000, minimum=1)
# Due micropay queries per payments.payment_queries task (payments.services.query_batch).
PAYMENTS_QUERY_BATCH = env_int("PAYMENTS_QUERY_BATCH", 200, minimum=1)
PAYMENTS_FOLLOW_UP_LEASE = env_int("PAYMENTS_FOLLOW_UP_LEASE", 60, minimum=5)
PAYMENTS_RECORD_LAG = env_bool("PAYMENTS_RECORD_LAG", default=False)
# The queue of the follow-up tasks: a deployment may give payments workers of their own.
PAYMENTS_TASK_QUEUE = env_str("PAYMENTS_TASK_QUEUE", "celery")
# A till connected with an API key re-checks the key this often (a backstop: revocation closes
# it at once; this catches a deleted or expired key), never per event.
PAYMENTS_TILL_KEY_RECHECK_SECONDS = env_int("PAYMENTS_TILL_KEY_RECHECK_SECONDS", 60, minimum=1)
IDEMPOTENCY_KEY_TTL = 24 * 3600
IDEMPOTENCY_LOCK_SECONDS = 60
CELERY_BEAT_SCHEDULE["payments.due_dispatch"] = {
    "task": "payments.due_dispatch",
    "schedule": PAYMENTS_DISPATCH_SECONDS,
    "options": {"expires": max(PAYMENTS_DISPATCH_SECONDS, 1.0), "queue": PAYMENTS_TASK_QUEUE},
}
CELERY_BEAT_SCHEDULE["payments.idempotency_keys_purge"] = {
    "task": "payments.idempotency_keys_purge",
    "schedule": 3600.0,
}

# --- Django ---------------------------------------------------------------------------------------

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "config",
    "tenancy",
    "terminals",
    "payments",
    "payments.sandbox",
    "dashboards",
]

MIDDLEWARE = [
    "config.request_id.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
LOGIN_URL = "dashboards:login"
LOGIN_REDIRECT_URL = "dashboards:home"
LOGOUT_REDIRECT_URL = "dashboards:login"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    }
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if SHOUYIN_ENV == "test":
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
if not PRODUCTION:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise expects it, even when empty
WHITENOISE_USE_FINDERS = DEBUG or SHOUYIN_ENV == "test"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(BASE_DIR / "var" / "media")))

SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_SECURE = PRODUCTION
X_FRAME_OPTIONS = "DENY"
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000, minimum=0)

EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if PRODUCTION
    else "django.core.mail.backends.console.EmailBackend",
)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Shouyin <noreply@shouyin.invalid>")

# --- API ------------------------------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "config.api_errors.api_exception_handler",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
if DEBUG:
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"].append(
        "rest_framework.renderers.BrowsableAPIRenderer"
    )

SPECTACULAR_SETTINGS = {
    "TITLE": "Shouyin API",
    "DESCRIPTION": "Merchant management for dual-screen offline WeChat Pay terminals. "
    "Errors follow one format: see docs/api.md.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Several models have a field named "kind"; give each choice set its own schema name.
    "ENUM_NAME_OVERRIDES": {
        "DocumentKindEnum": "tenancy.models.DocumentKind",
        "PaymentKindEnum": "payments.models.PaymentKind",
    },
}

# --- Logging --------------------------------------------------------------------------------------

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "config.request_id.RequestIdLogFilter"}},
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(process)d",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
        "text": {"format": "%(asctime)s %(levelname)-7s [%(request_id)s] %(name)s: %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "pgserver": {"level": "WARNING"},
        "uvicorn.access": {"level": "WARNING"},
        # Three INFO lines per websocket (accepted, open, closed) for every device of the fleet;
        # the terminal timeline records connects and disconnects with their reasons instead.
        "uvicorn.error": {"level": "WARNING" if LOG_LEVEL != "DEBUG" else "DEBUG"},
        # One line per task received and succeeded drowns everything else at a 1-second beat;
        # failures are still logged (at ERROR) by celery.app.trace.
        "celery.app.trace": {"level": "WARNING" if LOG_LEVEL != "DEBUG" else "DEBUG"},
        "celery.worker.strategy": {"level": "WARNING" if LOG_LEVEL != "DEBUG" else "DEBUG"},
        "celery.beat": {"level": "WARNING" if LOG_LEVEL != "DEBUG" else "DEBUG"},
    },
}

# --- Tenancy (README "Roles and onboarding") ------------------------------------------------------

TRIAL_WARNING_DAYS = env_int("TRIAL_WARNING_DAYS", 7, minimum=1)
DOCUMENT_MAX_BYTES = env_int("DOCUMENT_MAX_BYTES", 5 * 1024 * 1024, minimum=1024)
# Merchant systems authenticate with "Authorization: Api-Key <key>" (docs/api.md).
REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"].append(
    "tenancy.authentication.ApiKeyAuthentication"
)
# Login and password-reset throttles count in the Redis cache, so they hold across processes.
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {
    "login": env_str("LOGIN_THROTTLE_RATE", "5/min"),
    "password_reset": env_str("PASSWORD_RESET_THROTTLE_RATE", "5/hour"),
}
CELERY_BEAT_SCHEDULE["tenancy.trial_expiry_sweep"] = {
    "task": "tenancy.trial_expiry_sweep",
    "schedule": 3600.0,
}

"""Settings read from the environment.

With no environment at all this is the *embedded default*: SQLite, Celery tasks run in-process,
sandbox providers, DEBUG on — what `make run` and `make test` use. Setting `DATABASE_URL` switches
to PostgreSQL, `REDIS_URL` (or `CELERY_BROKER_URL`) to a real broker and a shared cache.
`yueqiqian.settings.production` builds on this module and refuses anything unsafe.
"""

import base64
import hashlib
import os
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.utils.csp import CSP
from kombu import Queue

BASE_DIR = Path(__file__).resolve().parents[2]
VAR_DIR = Path(os.environ.get("YQ_VAR_DIR", BASE_DIR / "var"))


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


# The embedded default's secret and key-encryption key are public by construction; production
# refuses both (see production.py).
DEFAULT_SECRET_KEY = "django-insecure-yueqiqian-embedded-default-never-use-in-production"  # noqa: S105
DEFAULT_KEY_ENCRYPTION_KEY = base64.urlsafe_b64encode(
    hashlib.sha256(b"yueqiqian embedded default key-encryption key").digest()
).decode()

DEBUG = env_bool("DJANGO_DEBUG", True)
SECRET_KEY = env("DJANGO_SECRET_KEY", DEFAULT_SECRET_KEY)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "yueqiqian",
    "accounts",
    "certificates",
    "orders",
    "authorization",
    "invoices",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "yueqiqian.urls"
WSGI_APPLICATION = "yueqiqian.wsgi.application"
ASGI_APPLICATION = "yueqiqian.asgi.application"

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
                "django.template.context_processors.csp",
            ],
            "builtins": ["yueqiqian.templatetags.yq"],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("DB_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several threads (runserver, the browser tests' live server) write to one file.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # The test database is a file too: with an in-memory one Django hands the live server's
    # request threads the test's own connection, and concurrent requests (htmx polling beside a
    # click) then misuse it ("bad parameter or other API misuse").
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}
    VAR_DIR.mkdir(parents=True, exist_ok=True)
elif env_bool("DB_PREPARED_STATEMENTS", True):
    # Parameters bound on the server, and a statement run a few times on a connection prepared
    # there (psycopg keeps the 100 most recent per connection): PostgreSQL then plans it once.
    # Planning cost more than running for most of our statements (home's: 0.9 ms against
    # 0.2 ms), and it was a third of the database time of a paid notification and an issuance.
    # Django's default is neither, for connection poolers: DB_PREPARED_STATEMENTS=0 behind a
    # pooler that can't keep prepared statements (PgBouncer before 1.21).
    DATABASES["default"]["OPTIONS"] = {
        "server_side_binding": True,
        "prepare_threshold": env_int("DB_PREPARE_THRESHOLD", 5),
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env("REDIS_URL")
if REDIS_URL:
    # Sessions are read on every logged-in page: served from Redis, written through to the DB.
    SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
    CACHES = {
        "default": {
            "BACKEND": "yueqiqian.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "yq",
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_USER_MODEL = "accounts.User"
# ModelBackend with a cheaper read of the session's user (accounts/backends.py).
AUTHENTICATION_BACKENDS = ["accounts.backends.UserBackend"]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "zh-hans"
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env("DJANGO_STATIC_ROOT", str(BASE_DIR / "staticfiles")))
# Uploads and generated files are private: they live outside every public path and are only
# served through views that check who is asking.
PRIVATE_MEDIA_ROOT = Path(env("YQ_PRIVATE_MEDIA_ROOT", str(VAR_DIR / "private")))
STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": PRIVATE_MEDIA_ROOT, "base_url": None},
    },
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

# Security headers that hold in every mode; production adds HTTPS-only ones.
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = 7 * 24 * 3600
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:", "blob:"],
    "connect-src": [CSP.SELF],
    "font-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}

# Requests arrive through this many trusted reverse proxies (X-Forwarded-For hops to trust).
YQ_TRUSTED_PROXY_COUNT = env_int("YQ_TRUSTED_PROXY_COUNT", 0)
# The public address of the site, used in links that leave it (CRL URLs, share links, SMS).
YQ_PUBLIC_BASE_URL = env("YQ_PUBLIC_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
# Where relying parties fetch CRLs and ask OCSP. Plain http by convention (RFC 5280 §4.2.1.13:
# a client must be able to check revocation without first trusting a TLS certificate); the
# responses are signed. Defaults to the public host over http.
YQ_PKI_BASE_URL = (
    env("YQ_PKI_BASE_URL") or "http://" + YQ_PUBLIC_BASE_URL.split("://", 1)[-1]
).rstrip("/")

# ---- Private keys at rest -------------------------------------------------------------------
# 32 bytes, urlsafe base64. CA and enterprise private keys are stored AES-256-GCM encrypted
# under a key derived from it (certificates/keys.py).
YQ_KEY_ENCRYPTION_KEY = env("YQ_KEY_ENCRYPTION_KEY", DEFAULT_KEY_ENCRYPTION_KEY)

# ---- External services: one provider interface each ------------------------------------------
# Every setting named *_PROVIDER holds a dotted class path; production refuses a class whose
# `sandbox` attribute is true.
YQ_SMS_PROVIDER = env("YQ_SMS_PROVIDER", "accounts.sms.SandboxSmsProvider")
# Sandbox SMS: messages are logged and, when set, appended as JSON lines to this file (the file
# is how a separate worker process's messages reach tests and the developer).
YQ_SMS_SANDBOX_OUTBOX = env("YQ_SMS_SANDBOX_OUTBOX", str(VAR_DIR / "sms-outbox.jsonl"))
# The production SMS provider posts to the operator's SMS gateway.
YQ_SMS_GATEWAY_URL = env("YQ_SMS_GATEWAY_URL")
YQ_SMS_GATEWAY_SECRET = env("YQ_SMS_GATEWAY_SECRET")
YQ_SMS_SIGN_NAME = env("YQ_SMS_SIGN_NAME", "粤企签")

# Face check (人脸识别核验) for 实名认证 and the legal representative's link.
YQ_FACE_PROVIDER = env("YQ_FACE_PROVIDER", "accounts.faceauth.SandboxFaceCheckProvider")
# Sandbox: ID numbers whose face check fails, as a real provider's mismatch would.
YQ_FACE_SANDBOX_FAIL_IDS = env_list("YQ_FACE_SANDBOX_FAIL_IDS", "110101199003071233")
# The production face-check provider posts to the operator's verification gateway.
YQ_FACE_GATEWAY_URL = env("YQ_FACE_GATEWAY_URL")
YQ_FACE_GATEWAY_SECRET = env("YQ_FACE_GATEWAY_SECRET")
YQ_SELFIE_MAX_BYTES = env_int("YQ_SELFIE_MAX_BYTES", 8 * 1024 * 1024)

# Payment: WeChat Pay API v3. The sandbox speaks the same protocol from a local cashier page.
YQ_PAYMENT_PROVIDER = env(
    "YQ_PAYMENT_PROVIDER", "orders.payments.providers.SandboxWechatPayProvider"
)
YQ_WECHATPAY_API_BASE = env("YQ_WECHATPAY_API_BASE", "https://api.mch.weixin.qq.com")
# A payment whose notification has not arrived this long after the applicant was sent to pay
# is settled by querying WeChat Pay (orders.tasks.payments_settle_overdue).
YQ_PAYMENT_SETTLE_AFTER_SECONDS = env_int("YQ_PAYMENT_SETTLE_AFTER_SECONDS", 120)

# The legal representative's share link.
YQ_SHARE_LINK_TTL_HOURS = env_int("YQ_SHARE_LINK_TTL_HOURS", 72)
# Bank-transfer uploads (营业执照, signed 业务授权书, transfer voucher): JPEG, PNG or PDF.
YQ_UPLOAD_MAX_BYTES = env_int("YQ_UPLOAD_MAX_BYTES", 10 * 1024 * 1024)

# Expiry: reminders this many days before a certificate or seat grant expires; unpaid orders
# (已授权待支付 / 待支付) are cancelled after this many hours, closing their WeChat Pay order.
YQ_EXPIRY_REMINDER_DAYS = [int(d) for d in env_list("YQ_EXPIRY_REMINDER_DAYS", "30,7,1")]
YQ_UNPAID_ORDER_TTL_HOURS = env_int("YQ_UNPAID_ORDER_TTL_HOURS", 72)

# A CJK font file for seals and PDFs (found with fc-list when unset).
YQ_CJK_FONT = env("YQ_CJK_FONT") or None

# Login codes.
YQ_SMS_CODE_TTL_SECONDS = env_int("YQ_SMS_CODE_TTL_SECONDS", 300)
YQ_SMS_CODE_MAX_ATTEMPTS = 5
YQ_RATE_LIMITS = {
    # scope: (requests, window seconds)
    "sms_send_phone_minute": (1, 60),
    "sms_send_phone_day": (10, 24 * 3600),
    "sms_send_ip_hour": (30, 3600),
    "sms_check_phone": (10, 15 * 60),
    "sms_check_ip": (50, 3600),
    "face_check_user": (5, 3600),
    "face_check_ip": (30, 3600),
    "share_link_open_ip": (60, 3600),
    "share_link_check": (5, 3600),
    "letter_email_user": (5, 3600),
    "invoice_email_user": (5, 3600),
}

# Email (Django 6.1 mailers). The embedded default prints mail to the console; production
# requires SMTP.
SMTP_EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
_email_backend = env("DJANGO_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
MAILERS = {
    "default": {
        "BACKEND": _email_backend,
        "OPTIONS": (
            {
                "host": env("DJANGO_EMAIL_HOST", "localhost"),
                "port": env_int("DJANGO_EMAIL_PORT", 25),
                "username": env("DJANGO_EMAIL_HOST_USER"),
                "password": env("DJANGO_EMAIL_HOST_PASSWORD"),
                "use_tls": env_bool("DJANGO_EMAIL_USE_TLS", False),
                "timeout": 10,
            }
            if _email_backend == SMTP_EMAIL_BACKEND
            else {}
        ),
    }
}
DEFAULT_FROM_EMAIL = env("DJANGO_DEFAULT_FROM_EMAIL", "粤企签 <noreply@yueqiqian.example>")

# ---- Celery ----------------------------------------------------------------------------------
CELERY_BROKER_URL = env("CELERY_BROKER_URL") or REDIS_URL or "memory://"
# Without a broker the embedded default runs each task in-process, right where it is queued.
CELERY_TASK_ALWAYS_EAGER = CELERY_BROKER_URL == "memory://"
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery's Django fixup closes the database connection before and after every task unless this
# is set, and then only every this many tasks: yueqiqian.celery.db_connections_tidy keeps or
# drops connections by CONN_MAX_AGE and their health instead, as Django does per request.
CELERY_DB_REUSE_MAX = 1000
# Two queues. `celery` (the default): issuance, login codes, beat jobs. `bulk`: side effects
# nobody is waiting for (invoices, their e-mails, notices), which would otherwise queue in
# front of issuance in a burst. A worker consumes both (`-Q celery,bulk`, or no -Q), `celery`
# first: with the "priority" order it polls Redis with BRPOP celery bulk, so bulk work runs
# whenever no issuance is waiting.
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_QUEUES = (Queue("celery"), Queue("bulk"))
CELERY_TASK_ROUTES = {
    "invoices.tasks.invoice_render": {"queue": "bulk"},
    "invoices.tasks.invoice_email_deliver": {"queue": "bulk"},
    "accounts.tasks.sms_notice_deliver": {"queue": "bulk"},
    "certificates.tasks.expiry_reminder_email_deliver": {"queue": "bulk"},
}
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600, "queue_order_strategy": "priority"}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = TIME_ZONE
# Task modules autodiscovery does not find (it only imports each app's tasks.py).
CELERY_IMPORTS = ["certificates.tasks_crl"]
CELERY_BEAT_SCHEDULE = {
    "refresh-crls": {
        "task": "certificates.tasks_crl.crls_refresh",
        "schedule": crontab(minute=23, hour="*/6"),
    },
    "purge-sms-codes": {
        "task": "accounts.tasks.sms_codes_purge",
        "schedule": crontab(minute=17),
    },
    "settle-overdue-payments": {
        "task": "orders.tasks.payments_settle_overdue",
        "schedule": 60.0,
    },
    "issue-paid-orders": {
        "task": "certificates.tasks.certificates_issue_stuck",
        "schedule": 120.0,
    },
    "expire-certificates-and-seats": {
        "task": "certificates.tasks.certificates_expire",
        "schedule": crontab(minute=5),
    },
    "send-expiry-reminders": {
        "task": "certificates.tasks.expiry_reminders_send",
        "schedule": crontab(hour=9, minute=0),
    },
    "cancel-unpaid-orders": {
        "task": "orders.tasks.orders_cancel_unpaid",
        "schedule": crontab(minute="*/10"),
    },
    "render-missing-invoices": {
        "task": "invoices.tasks.invoices_render_missing",
        "schedule": 600.0,
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {"redact_share_tokens": {"()": "yueqiqian.logfilters.RedactShareTokens"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["redact_share_tokens"],
        }
    },
    "root": {"handlers": ["console"], "level": env("DJANGO_LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

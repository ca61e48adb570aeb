"""Production settings: the base settings, HTTPS-only, and a refusal to start when unsafe.

Refuses (ImproperlyConfigured at import) DEBUG, the default or a weak SECRET_KEY, the default
key-encryption key, SQLite, an in-process task queue, and any sandbox provider or non-SMTP
email backend.
"""

import base64
import binascii
import importlib
import urllib.parse

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import (
    CELERY_TASK_ALWAYS_EAGER,
    DATABASES,
    DEFAULT_KEY_ENCRYPTION_KEY,
    DEFAULT_SECRET_KEY,
    MAILERS,
    SECRET_KEY,
    SMTP_EMAIL_BACKEND,
    YQ_KEY_ENCRYPTION_KEY,
    YQ_PUBLIC_BASE_URL,
    env_bool,
    env_int,
)


def refuse(reason: str) -> None:
    raise ImproperlyConfigured(f"Production settings refuse to start: {reason}")


if env_bool("DJANGO_DEBUG", False):
    refuse("DJANGO_DEBUG is on.")
DEBUG = False

if SECRET_KEY == DEFAULT_SECRET_KEY or len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5:
    refuse("set DJANGO_SECRET_KEY to a random value of at least 50 characters.")

try:
    _kek = base64.urlsafe_b64decode(YQ_KEY_ENCRYPTION_KEY.encode())
except (binascii.Error, ValueError):
    _kek = b""
if YQ_KEY_ENCRYPTION_KEY == DEFAULT_KEY_ENCRYPTION_KEY or len(_kek) != 32:
    refuse("set YQ_KEY_ENCRYPTION_KEY to 32 random bytes, urlsafe base64 encoded.")

_public = urllib.parse.urlsplit(YQ_PUBLIC_BASE_URL)
if _public.scheme != "https" or _public.hostname in {None, "localhost", "127.0.0.1", "::1"}:
    # It goes into WeChat Pay's notify URL, share links and every certificate's CRL URL.
    refuse("set YQ_PUBLIC_BASE_URL to the site's public https:// address.")

if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    refuse("set DATABASE_URL to a PostgreSQL database.")
if CELERY_TASK_ALWAYS_EAGER:
    refuse("set REDIS_URL (or CELERY_BROKER_URL): tasks must run in workers.")
if MAILERS["default"]["BACKEND"] != SMTP_EMAIL_BACKEND:
    refuse("DJANGO_EMAIL_BACKEND must be the SMTP backend.")

for _name, _path in list(globals().items()):
    if _name.endswith("_PROVIDER") and isinstance(_path, str):
        _module, _, _cls = _path.rpartition(".")
        try:
            _provider = getattr(importlib.import_module(_module), _cls)
        except (ImportError, AttributeError) as exc:
            refuse(f"{_name}={_path!r} cannot be imported ({exc}).")
        if getattr(_provider, "sandbox", True):
            refuse(f"{_name}={_path!r} is a sandbox provider.")

# A real provider needs its endpoint and secret; without them it would fail at the first user.
_PROVIDER_SETTINGS = {
    "accounts.sms.HttpGatewaySmsProvider": ["YQ_SMS_GATEWAY_URL", "YQ_SMS_GATEWAY_SECRET"],
    "accounts.faceauth.HttpGatewayFaceCheckProvider": [
        "YQ_FACE_GATEWAY_URL",
        "YQ_FACE_GATEWAY_SECRET",
    ],
}
for _name, _path in list(globals().items()):
    if _name.endswith("_PROVIDER") and isinstance(_path, str):
        for _required in _PROVIDER_SETTINGS.get(_path, []):
            if not globals().get(_required):
                refuse(f"{_path} needs {_required}.")

STORAGES["staticfiles"]["BACKEND"] = "whitenoise.storage.CompressedManifestStaticFilesStorage"  # noqa: F405
DATABASES["default"]["CONN_MAX_AGE"] = env_int("DB_CONN_MAX_AGE", 300)

SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
# CRLs and OCSP answer over plain http (see YQ_PKI_BASE_URL).
SECURE_REDIRECT_EXEMPT = [r"^crl/", r"^ocsp/"]
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = 31_536_000
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_NAME = "__Host-sessionid"
CSRF_COOKIE_NAME = "__Host-csrftoken"

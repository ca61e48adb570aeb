"""Settings for the benchmark's gunicorn, Celery workers and harness process only.

The embedded base settings, read from the environment the harness sets (DATABASE_URL →
the throw-away `yq_bench` database, REDIS_URL → a Redis database of its own), with DEBUG off
as in production, plus the bench urlconf that adds the one-query floor view. The production
module is not used because it refuses sandbox providers, and the benchmark pays through the
sandbox WeChat Pay platform (the same signed v3 notifications, verified the same way).
"""

from yueqiqian.settings.base import *  # noqa: F403
from yueqiqian.settings.base import LOGGING, STORAGES, env

DEBUG = False
ROOT_URLCONF = "bench.urls"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
# No collectstatic for a benchmark: the manifest storage would need one to resolve {% static %}.
STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# One line per request at INFO (e.g. "payment already recorded") as in production; quieter
# with BENCH_LOG_LEVEL=WARNING.
LOGGING = {**LOGGING, "root": {**LOGGING["root"], "level": env("BENCH_LOG_LEVEL", "INFO")}}

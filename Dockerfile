# 粤企签 production image: gunicorn serves the site; the same image runs migrations, the Celery
# worker and Celery beat (see docker-compose.yml). Settings: yueqiqian.settings.production, which
# refuses to start without the secrets and services listed in .env.example.
FROM python:3.13-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    UV_PYTHON=/usr/local/bin/python3 \
    UV_PYTHON_DOWNLOADS=never \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1 \
    VIRTUAL_ENV=/app/.venv \
    PATH=/app/.venv/bin:$PATH

# A CJK font for the seal images and PDFs; libpq for PostgreSQL.
RUN apt-get update \
    && apt-get install -y --no-install-recommends fonts-wqy-zenhei fontconfig libpq5 \
    && rm -rf /var/lib/apt/lists/* \
    && fc-cache -f

RUN pip install "uv==0.13.8"

WORKDIR /app

# Dependencies first, exactly as uv.lock pins them (hashes checked), so this layer is rebuilt only
# when the lock changes. The project itself is not a package ([tool.uv] package = false).
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project

COPY . .

# Static files, compressed and hashed for whitenoise. The production settings refuse to import
# without the real secrets, so collect with the base settings and DEBUG off (same storage).
RUN DJANGO_SETTINGS_MODULE=yueqiqian.settings DJANGO_DEBUG=0 YQ_VAR_DIR=/tmp/yq-build \
    python manage.py collectstatic --no-input \
    && rm -rf /tmp/yq-build

# Run as a non-root user. /data/private holds uploads and generated files (a volume in compose);
# it is created here so a fresh named volume inherits the ownership.
RUN groupadd --system app \
    && useradd --system --gid app --create-home --home-dir /home/app --shell /usr/sbin/nologin app \
    && mkdir -p /data/private \
    && chown app:app /data/private

USER app

ENV DJANGO_SETTINGS_MODULE=yueqiqian.settings.production \
    YQ_PRIVATE_MEDIA_ROOT=/data/private \
    GUNICORN_WORKERS=2

EXPOSE 8000

# Healthy when gunicorn answers GET / without a server error. The request names the first allowed
# host and says it came over HTTPS, as the reverse proxy would, so it is not redirected.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import http.client, os; host = os.environ.get('DJANGO_ALLOWED_HOSTS', '').split(',')[0].strip().lstrip('.'); host = 'localhost' if host in ('', '*') else host; c = http.client.HTTPConnection('127.0.0.1', 8000, timeout=4); c.request('GET', '/', headers={'Host': host, 'X-Forwarded-Proto': 'https'}); raise SystemExit(c.getresponse().status >= 500)"]

CMD ["sh", "-c", "exec gunicorn yueqiqian.wsgi:application --bind 0.0.0.0:8000 --workers \"${GUNICORN_WORKERS:-2}\" --access-logfile -"]

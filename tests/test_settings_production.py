"""Production settings pass `check --deploy` silently with the required environment, and refuse
to start when anything unsafe is configured."""

import base64
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def production_env(**overrides: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "YQ_", "DATABASE_URL", "REDIS_URL", "CELERY_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="yueqiqian.settings.production",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="yueqiqian.example.cn",
        YQ_KEY_ENCRYPTION_KEY=base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        DATABASE_URL="postgres://yq:secret@db.internal:5432/yueqiqian",
        REDIS_URL="redis://redis.internal:6379/0",
        DJANGO_EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        DJANGO_EMAIL_HOST="smtp.example.cn",
        YQ_SMS_PROVIDER="accounts.sms.HttpGatewaySmsProvider",
        YQ_SMS_GATEWAY_URL="https://sms-gateway.internal/send",
        YQ_SMS_GATEWAY_SECRET=secrets.token_urlsafe(32),
        YQ_FACE_PROVIDER="accounts.faceauth.HttpGatewayFaceCheckProvider",
        YQ_FACE_GATEWAY_URL="https://face-gateway.internal/verify",
        YQ_FACE_GATEWAY_SECRET=secrets.token_urlsafe(32),
        YQ_PAYMENT_PROVIDER="orders.payments.providers.WechatPayProvider",
        YQ_PUBLIC_BASE_URL="https://yueqiqian.example.cn",
    )
    env.update(overrides)
    return env


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_check_deploy_passes_without_a_single_warning():
    result = manage("check", "--deploy", "--fail-level", "DEBUG", env=production_env())

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout
    assert "WARNING" not in result.stderr


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"DJANGO_DEBUG": "1"}, "DJANGO_DEBUG is on"),
        ({"DJANGO_SECRET_KEY": ""}, "DJANGO_SECRET_KEY"),
        ({"DJANGO_SECRET_KEY": "short"}, "DJANGO_SECRET_KEY"),
        ({"YQ_KEY_ENCRYPTION_KEY": ""}, "YQ_KEY_ENCRYPTION_KEY"),
        ({"YQ_KEY_ENCRYPTION_KEY": "not-32-bytes"}, "YQ_KEY_ENCRYPTION_KEY"),
        ({"DATABASE_URL": ""}, "PostgreSQL"),
        ({"REDIS_URL": ""}, "REDIS_URL"),
        ({"YQ_SMS_PROVIDER": ""}, "sandbox provider"),
        ({"YQ_SMS_PROVIDER": "accounts.sms.SandboxSmsProvider"}, "sandbox provider"),
        ({"YQ_SMS_PROVIDER": "accounts.sms.Missing"}, "cannot be imported"),
        ({"DJANGO_EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}, "SMTP"),
        ({"YQ_FACE_PROVIDER": "accounts.faceauth.SandboxFaceCheckProvider"}, "sandbox provider"),
        (
            {"YQ_PAYMENT_PROVIDER": "orders.payments.providers.SandboxWechatPayProvider"},
            "sandbox provider",
        ),
        ({"YQ_FACE_GATEWAY_SECRET": ""}, "YQ_FACE_GATEWAY_SECRET"),
        ({"YQ_SMS_GATEWAY_URL": ""}, "YQ_SMS_GATEWAY_URL"),
        ({"YQ_PUBLIC_BASE_URL": ""}, "YQ_PUBLIC_BASE_URL"),
        ({"YQ_PUBLIC_BASE_URL": "http://yueqiqian.example.cn"}, "YQ_PUBLIC_BASE_URL"),
    ],
)
def test_production_refuses_to_start_when_unsafe(overrides, reason):
    env = production_env(**overrides)
    if not overrides.get("YQ_SMS_PROVIDER", "x"):
        env.pop("YQ_SMS_PROVIDER")  # unset: falls back to the sandbox default
    for name, value in overrides.items():
        if value == "" and name != "YQ_SMS_PROVIDER":
            env.pop(name)

    result = manage("check", env=env)

    assert result.returncode != 0
    assert "Production settings refuse to start" in result.stderr
    assert reason in result.stderr


def test_the_embedded_default_needs_no_environment():
    env = {k: v for k, v in production_env().items() if not k.startswith(("DJANGO_", "YQ_"))}
    env.pop("DATABASE_URL")
    env.pop("REDIS_URL")
    env["YQ_VAR_DIR"] = str(ROOT / "var")

    result = manage("check", env=env)

    assert result.returncode == 0, result.stderr

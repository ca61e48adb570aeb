import json
from pathlib import Path

import pytest
from django.core.cache import cache

from tests.factories import CAInstitutionFactory, PackageFactory, UserFactory


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _private_media_per_test(settings, tmp_path):
    """Uploads, seals and invoices go to this test's own folder, never the shared var/."""
    root = tmp_path / "private"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": root, "base_url": None},
        },
    }
    settings.PRIVATE_MEDIA_ROOT = root


@pytest.fixture(autouse=True)
def _isolated_cache():
    """Rate-limit counters live in the cache: every test starts with none."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def sms_outbox(settings, tmp_path) -> "SmsOutbox":
    settings.YQ_SMS_SANDBOX_OUTBOX = str(tmp_path / "sms-outbox.jsonl")
    return SmsOutbox(Path(settings.YQ_SMS_SANDBOX_OUTBOX))


class SmsOutbox:
    """What the sandbox SMS provider delivered, read back from its outbox file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def messages(self) -> list[dict]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text("utf-8").splitlines()]

    def last_code(self, phone: str) -> str:
        import re

        for message in reversed(self.messages()):
            if message["phone"] == phone:
                return re.search(r"验证码是 (\d{6})", message["text"]).group(1)
        raise AssertionError(f"no SMS was sent to {phone}")


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def ca(db):
    return CAInstitutionFactory()


@pytest.fixture
def package(ca):
    return PackageFactory(ca=ca)

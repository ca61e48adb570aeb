"""SMS behind one provider interface (setting YQ_SMS_PROVIDER).

This module must stay importable before Django's apps are ready: production settings import
the configured class to refuse sandbox providers.
"""

import json
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from django.conf import settings
from django.utils.module_loading import import_string

from yueqiqian.gateway import GatewayUnreachable, signed_json_post

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SmsMessage:
    phone: str
    text: str


class SmsDeliveryError(Exception):
    """The provider did not accept the message; the caller may retry."""


class SmsProvider:
    sandbox: ClassVar[bool] = True

    def send(self, message: SmsMessage) -> None:
        raise NotImplementedError


class SandboxSmsProvider(SmsProvider):
    """Delivers nowhere: logs the message and appends it to a JSON-lines outbox file."""

    sandbox = True
    _lock = threading.Lock()

    def send(self, message: SmsMessage) -> None:
        logger.info("sandbox SMS to %s: %s", message.phone, message.text)
        outbox = settings.YQ_SMS_SANDBOX_OUTBOX
        if outbox:
            path = Path(outbox)
            path.parent.mkdir(parents=True, exist_ok=True)
            line = json.dumps(
                {"phone": message.phone, "text": message.text, "at": time.time()},
                ensure_ascii=False,
            )
            with self._lock, path.open("a", encoding="utf-8") as fh:
                fh.write(line + "\n")


class HttpGatewaySmsProvider(SmsProvider):
    """Posts to the operator's SMS gateway (yueqiqian.gateway: JSON, HMAC-signed)."""

    sandbox = False
    timeout = 5

    def send(self, message: SmsMessage) -> None:
        payload = {"phone": message.phone, "sign": settings.YQ_SMS_SIGN_NAME, "text": message.text}
        try:
            status, _ = signed_json_post(
                settings.YQ_SMS_GATEWAY_URL, settings.YQ_SMS_GATEWAY_SECRET, payload, self.timeout
            )
        except GatewayUnreachable as exc:
            raise SmsDeliveryError(f"SMS gateway unreachable: {exc}") from exc
        if not 200 <= status < 300:
            raise SmsDeliveryError(f"SMS gateway answered HTTP {status}")


def sms_provider() -> SmsProvider:
    return import_string(settings.YQ_SMS_PROVIDER)()

"""The production SMS provider signs each request for the operator's gateway and reports
refusals; the sandbox writes what it would have sent."""

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from accounts.sms import (
    HttpGatewaySmsProvider,
    SandboxSmsProvider,
    SmsDeliveryError,
    SmsMessage,
)


@pytest.fixture
def gateway():
    """A local stand-in for the SMS gateway that records requests and answers `status`."""
    received: list[dict] = []
    state = {"status": 200}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"headers": dict(self.headers), "body": body})
            self.send_response(state["status"])
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield {
        "url": f"http://127.0.0.1:{server.server_port}/send",
        "received": received,
        "state": state,
    }
    server.shutdown()


def test_the_gateway_provider_posts_a_signed_json_message(settings, gateway):
    settings.YQ_SMS_GATEWAY_URL = gateway["url"]
    settings.YQ_SMS_GATEWAY_SECRET = "gateway-secret"

    HttpGatewaySmsProvider().send(SmsMessage(phone="13812345678", text="验证码 123456"))

    (request,) = gateway["received"]
    assert json.loads(request["body"]) == {
        "phone": "13812345678",
        "sign": "粤企签",
        "text": "验证码 123456",
    }
    expected = hmac.new(
        b"gateway-secret",
        request["headers"]["X-Timestamp"].encode() + b"\n" + request["body"],
        hashlib.sha256,
    ).hexdigest()
    assert request["headers"]["X-Signature"] == expected


def test_a_gateway_refusal_is_a_delivery_error(settings, gateway):
    settings.YQ_SMS_GATEWAY_URL = gateway["url"]
    settings.YQ_SMS_GATEWAY_SECRET = "gateway-secret"
    gateway["state"]["status"] = 503

    with pytest.raises(SmsDeliveryError, match="503"):
        HttpGatewaySmsProvider().send(SmsMessage(phone="13812345678", text="x"))


def test_an_unreachable_gateway_is_a_delivery_error(settings):
    settings.YQ_SMS_GATEWAY_URL = "http://127.0.0.1:9/send"
    settings.YQ_SMS_GATEWAY_SECRET = "gateway-secret"

    with pytest.raises(SmsDeliveryError):
        HttpGatewaySmsProvider().send(SmsMessage(phone="13812345678", text="x"))


def test_the_sandbox_writes_the_message_to_its_outbox(sms_outbox):
    SandboxSmsProvider().send(SmsMessage(phone="13812345678", text="您的登录验证码是 654321"))

    assert sms_outbox.last_code("13812345678") == "654321"


def test_only_the_sandbox_is_marked_sandbox():
    assert SandboxSmsProvider.sandbox is True
    assert HttpGatewaySmsProvider.sandbox is False

"""The face-check providers: the sandbox decodes the selfie like a real provider and fails the
configured ID numbers with a real provider's message; the gateway provider signs its requests
and reports a gateway it cannot use as unavailable, never as a failed check."""

import base64
import hashlib
import hmac
import io
import json
import struct
import subprocess
import sys
import threading
import zlib
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from PIL import Image

from accounts.faceauth import (
    MISMATCH_MESSAGE,
    UNREADABLE_MESSAGE,
    FaceCheckRequest,
    FaceCheckUnavailable,
    HttpGatewayFaceCheckProvider,
    SandboxFaceCheckProvider,
    face_provider,
    signed_json_post,
)

ROOT = Path(__file__).resolve().parents[2]
ID_NUMBER = "440106199001010013"
FAILING_ID = "110101199003071233"


def photo(fmt: str = "JPEG", size: tuple[int, int] = (480, 640)) -> bytes:
    image = Image.new("RGB", size, (222, 190, 160))
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def png_declaring(width: int, height: int) -> bytes:
    """A well-formed PNG header for a huge canvas, with almost no pixel data behind it."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def request_for(selfie: bytes, id_number: str = ID_NUMBER, content_type: str = "image/jpeg"):
    return FaceCheckRequest(
        real_name="张三", id_number=id_number, selfie=selfie, content_type=content_type
    )


@pytest.fixture(autouse=True)
def _failing_ids(settings):
    settings.YQ_FACE_SANDBOX_FAIL_IDS = [FAILING_ID]


# --- sandbox --------------------------------------------------------------------------------


@pytest.mark.parametrize(("fmt", "content_type"), [("JPEG", "image/jpeg"), ("PNG", "image/png")])
def test_the_sandbox_passes_a_decodable_photo(fmt, content_type):
    result = SandboxFaceCheckProvider().check(request_for(photo(fmt), content_type=content_type))

    assert result.passed
    assert result.provider_ref.startswith("SBX-")
    assert len(result.provider_ref) == len("SBX-") + 32


def test_every_sandbox_check_has_its_own_reference():
    provider = SandboxFaceCheckProvider()
    selfie = photo()

    first = provider.check(request_for(selfie))
    second = provider.check(request_for(selfie))

    assert first.provider_ref != second.provider_ref


def test_a_listed_id_number_fails_with_the_real_providers_mismatch_message():
    result = SandboxFaceCheckProvider().check(request_for(photo(), id_number=FAILING_ID))

    assert not result.passed
    assert result.message == MISMATCH_MESSAGE == "人脸比对未通过，请确保光线充足、正对镜头后重试"
    assert result.retryable
    assert result.provider_ref.startswith("SBX-")


def test_the_fail_list_matches_a_lower_case_x(settings):
    settings.YQ_FACE_SANDBOX_FAIL_IDS = ["11010519491231002X"]

    result = SandboxFaceCheckProvider().check(request_for(photo(), id_number="11010519491231002x"))

    assert not result.passed


def truncated_jpeg() -> bytes:
    noisy = Image.effect_noise((800, 800), 64).convert("RGB")  # enough scan data to cut
    buffer = io.BytesIO()
    noisy.save(buffer, "JPEG", quality=90)
    data = buffer.getvalue()
    return data[: len(data) // 2]


@pytest.mark.parametrize(
    "selfie",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"not an image at all" * 100, id="text"),
        pytest.param(
            b"<!doctype html><html><body><script>alert(1)</script></body></html>",
            id="html-renamed-jpg",
        ),
        pytest.param(truncated_jpeg(), id="truncated-jpeg"),
        pytest.param(png_declaring(30_000, 30_000), id="decompression-bomb"),
        pytest.param(png_declaring(7_000, 7_000), id="png-over-the-pixel-limit"),
        pytest.param(photo(size=(60, 80)), id="tiny"),
        pytest.param(photo("GIF"), id="gif"),
        pytest.param(photo("BMP"), id="bmp"),
    ],
)
def test_the_sandbox_refuses_what_is_not_a_usable_photo(selfie):
    result = SandboxFaceCheckProvider().check(request_for(selfie))

    assert not result.passed
    assert result.message == UNREADABLE_MESSAGE == "照片无法识别，请正对镜头重新拍摄"
    assert result.retryable


def test_an_unreadable_photo_fails_before_the_fail_list_is_consulted():
    result = SandboxFaceCheckProvider().check(request_for(b"junk", id_number=FAILING_ID))

    assert result.message == UNREADABLE_MESSAGE


def test_a_large_phone_jpeg_passes():
    # 48 megapixels: decoded at reduced scale, within the JPEG limit.
    result = SandboxFaceCheckProvider().check(request_for(photo(size=(8000, 6000))))

    assert result.passed


def test_the_request_does_not_show_the_id_number_or_the_photo_in_its_repr():
    text = repr(request_for(b"\xff\xd8secret-bytes"))

    assert ID_NUMBER not in text
    assert "secret-bytes" not in text


# --- choosing the provider ------------------------------------------------------------------


def test_the_provider_is_the_class_named_in_settings(settings):
    settings.YQ_FACE_PROVIDER = "accounts.faceauth.HttpGatewayFaceCheckProvider"

    assert isinstance(face_provider(), HttpGatewayFaceCheckProvider)


def test_only_the_sandbox_is_marked_sandbox():
    assert SandboxFaceCheckProvider.sandbox is True
    assert HttpGatewayFaceCheckProvider.sandbox is False


def test_the_module_imports_before_django_is_set_up():
    # Production settings import the provider class while settings are still being read.
    code = (
        "import sys, accounts.faceauth as f; "
        "assert f.HttpGatewayFaceCheckProvider.sandbox is False; "
        "assert not any(m.endswith('.models') for m in sys.modules if m.startswith('accounts'))"
    )
    env = {"PATH": "/usr/bin:/bin"}

    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )

    assert result.returncode == 0, result.stderr


# --- the gateway ----------------------------------------------------------------------------


@pytest.fixture
def gateway():
    """A local stand-in for the verification gateway: records requests, answers `status` with
    `answer` as JSON."""
    received: list[dict] = []
    state = {"status": 200, "answer": {"passed": True, "message": "", "ref": "GW-1"}}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"headers": dict(self.headers), "body": body})
            payload = state["answer"]
            raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self.send_response(state["status"])
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield {
        "url": f"http://127.0.0.1:{server.server_port}/face",
        "received": received,
        "state": state,
    }
    server.shutdown()
    server.server_close()


@pytest.fixture
def configured(settings, gateway):
    settings.YQ_FACE_GATEWAY_URL = gateway["url"]
    settings.YQ_FACE_GATEWAY_SECRET = "face-secret"
    return gateway


def test_the_gateway_provider_posts_a_signed_json_request(configured):
    selfie = photo()

    result = HttpGatewayFaceCheckProvider().check(request_for(selfie))

    (request,) = configured["received"]
    payload = json.loads(request["body"])
    assert payload == {
        "name": "张三",
        "id_number": ID_NUMBER,
        "image": base64.b64encode(selfie).decode(),
        "image_type": "image/jpeg",
    }
    expected = hmac.new(
        b"face-secret",
        request["headers"]["X-Timestamp"].encode() + b"\n" + request["body"],
        hashlib.sha256,
    ).hexdigest()
    assert request["headers"]["X-Signature"] == expected
    assert result.passed
    assert result.provider_ref == "GW-1"


def test_a_gateway_mismatch_is_a_failed_check_with_its_message(configured):
    configured["state"]["answer"] = {"passed": False, "message": "比对不一致", "ref": "GW-2"}

    result = HttpGatewayFaceCheckProvider().check(request_for(photo()))

    assert not result.passed
    assert result.message == "比对不一致"
    assert result.retryable
    assert result.provider_ref == "GW-2"


def test_a_gateway_mismatch_without_a_message_reads_like_the_sandbox(configured):
    configured["state"]["answer"] = {"passed": False, "ref": "GW-3"}

    result = HttpGatewayFaceCheckProvider().check(request_for(photo()))

    assert result.message == MISMATCH_MESSAGE


def test_the_gateway_may_say_a_failure_is_final(configured):
    configured["state"]["answer"] = {
        "passed": False,
        "message": "身份信息不一致",
        "ref": "GW-4",
        "retryable": False,
    }

    result = HttpGatewayFaceCheckProvider().check(request_for(photo()))

    assert not result.retryable


@pytest.mark.parametrize("status", [500, 503, 400, 401])
def test_a_gateway_error_status_is_unavailable_not_a_failed_check(configured, status):
    configured["state"]["status"] = status

    with pytest.raises(FaceCheckUnavailable, match=str(status)):
        HttpGatewayFaceCheckProvider().check(request_for(photo()))


@pytest.mark.parametrize(
    "answer",
    [
        b"<html>bad gateway</html>",
        b"[]",
        {"passed": "yes", "message": "", "ref": "GW-5"},
        {"message": "no verdict", "ref": "GW-6"},
    ],
)
def test_an_unreadable_gateway_answer_is_unavailable(configured, answer):
    configured["state"]["answer"] = answer

    with pytest.raises(FaceCheckUnavailable):
        HttpGatewayFaceCheckProvider().check(request_for(photo()))


def test_an_unreachable_gateway_is_unavailable(settings):
    settings.YQ_FACE_GATEWAY_URL = "http://127.0.0.1:9/face"
    settings.YQ_FACE_GATEWAY_SECRET = "face-secret"

    with pytest.raises(FaceCheckUnavailable):
        HttpGatewayFaceCheckProvider().check(request_for(photo()))


def test_an_unconfigured_gateway_is_unavailable(settings):
    settings.YQ_FACE_GATEWAY_URL = ""
    settings.YQ_FACE_GATEWAY_SECRET = ""

    with pytest.raises(FaceCheckUnavailable, match="YQ_FACE_GATEWAY_URL"):
        HttpGatewayFaceCheckProvider().check(request_for(photo()))


def test_signed_json_post_returns_the_status_and_body_of_an_error(gateway):
    gateway["state"]["status"] = 422
    gateway["state"]["answer"] = {"error": "bad image"}

    status, body = signed_json_post(gateway["url"], "s", {"a": 1}, timeout=5)

    assert status == 422
    assert json.loads(body) == {"error": "bad image"}

"""Face check (人脸识别核验) behind one provider interface (setting YQ_FACE_PROVIDER).

A provider compares a selfie with the photo on record for a name + ID number and answers
passed / failed with a message for the user and whether trying again can help. Transport
failures are FaceCheckUnavailable, never a failed check: the user did nothing wrong.

This module must stay importable before Django's apps are ready: production settings import
the configured class to refuse sandbox providers. It imports no models.
"""

import base64
import io
import json
import logging
import uuid
from dataclasses import dataclass, field
from typing import ClassVar

from django.conf import settings
from django.utils.module_loading import import_string
from PIL import Image, UnidentifiedImageError

from yueqiqian.gateway import GatewayUnreachable, signed_json_post

logger = logging.getLogger(__name__)

# What the user reads. The sandbox gives exactly the real provider's mismatch message, so a
# failure looks the same in a demo as in production.
MISMATCH_MESSAGE = "人脸比对未通过，请确保光线充足、正对镜头后重试"
UNREADABLE_MESSAGE = "照片无法识别，请正对镜头重新拍摄"
PASSED_MESSAGE = "人脸核验通过"

# Formats a phone camera produces; everything else (and Pillow's riskier decoders: EPS runs
# Ghostscript) is refused before any decoder is tried. MPO is how Pillow names the JPEGs with
# an embedded depth or preview image that many phones write.
SELFIE_FORMATS = ("JPEG", "PNG")
_CONTENT_TYPES = {"JPEG": "image/jpeg", "MPO": "image/jpeg", "PNG": "image/png"}
SELFIE_MIN_SIDE = 100  # a face smaller than this cannot be compared
# JPEGs are decoded at 1/8 scale (draft mode), so a 50-megapixel front camera costs little.
# PNGs are decoded at full size and compress flat colours to almost nothing, so a small file
# can claim a huge canvas: they get a tighter limit. Both are far below Pillow's own
# decompression-bomb limit (~89 megapixels), which is process-wide and not ours to lower.
SELFIE_MAX_PIXELS = {"JPEG": 50_000_000, "MPO": 50_000_000, "PNG": 16_000_000}
_DRAFT_SIZE = (1024, 1024)


@dataclass(frozen=True)
class FaceCheckRequest:
    real_name: str
    id_number: str = field(repr=False)  # personal data: kept out of reprs and tracebacks
    selfie: bytes = field(repr=False)
    content_type: str  # from the decoded image, never from the upload's name or header


@dataclass(frozen=True)
class FaceCheckResult:
    passed: bool
    message: str  # shown to the user as it is
    retryable: bool  # a new photo may pass (bad light, not facing the camera)
    provider_ref: str  # the provider's reference for this check, for support


class FaceCheckUnavailable(Exception):
    """The provider could not be asked or gave no usable answer; nothing was decided."""


class SelfieUnreadable(ValueError):
    """The bytes are not a photo a face check can use."""


@dataclass(frozen=True)
class Selfie:
    content_type: str
    width: int
    height: int


def selfie_inspect(data: bytes) -> Selfie:
    """Decode a selfie completely and say what it is; raise SelfieUnreadable if it is not a
    JPEG or PNG of at least 100×100 that decodes to the end.

    Decided by the content alone. A file can claim a huge canvas in a few bytes, so the size
    in its header is checked before any pixel is decoded.
    """
    try:
        with Image.open(io.BytesIO(data), formats=SELFIE_FORMATS) as image:
            kind = image.format or ""
            width, height = image.size
            if width * height > SELFIE_MAX_PIXELS.get(kind, 0):
                raise SelfieUnreadable(f"{kind} of {width}×{height} is over the pixel limit")
            image.verify()  # structure and checksums; the image cannot be used after it
        with Image.open(io.BytesIO(data), formats=SELFIE_FORMATS) as image:
            image.draft(None, _DRAFT_SIZE)  # JPEG only; a no-op for PNG
            image.load()  # a truncated file fails here
    except SelfieUnreadable:
        raise
    # DecompressionBombWarning is a warning unless warnings are errors (as under pytest); the
    # pixel limit above refuses those images either way.
    except (
        UnidentifiedImageError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
        OSError,
        SyntaxError,
        ValueError,
        EOFError,
    ) as exc:
        raise SelfieUnreadable(f"not a decodable image: {exc}") from exc
    if min(width, height) < SELFIE_MIN_SIDE:
        raise SelfieUnreadable(f"{width}×{height} is too small for a face check")
    return Selfie(content_type=_CONTENT_TYPES[kind], width=width, height=height)


class FaceCheckProvider:
    sandbox: ClassVar[bool] = True
    name: ClassVar[str] = ""  # stored with the identity: which provider vouched for it

    def check(self, request: FaceCheckRequest) -> FaceCheckResult:
        raise NotImplementedError


class SandboxFaceCheckProvider(FaceCheckProvider):
    """Passes any decodable photo; fails the ID numbers in YQ_FACE_SANDBOX_FAIL_IDS the way a
    real provider fails a face that does not match.

    Like a real provider it decodes the photo itself (whatever the caller checked) and gives
    every check, passed or failed, its own reference.
    """

    sandbox = True
    name = "sandbox"

    def check(self, request: FaceCheckRequest) -> FaceCheckResult:
        ref = f"SBX-{uuid.uuid4().hex}"
        try:
            selfie_inspect(request.selfie)
        except SelfieUnreadable as exc:
            logger.info("sandbox face check %s: unreadable photo (%s)", ref, exc)
            return FaceCheckResult(
                passed=False, message=UNREADABLE_MESSAGE, retryable=True, provider_ref=ref
            )
        failing = {number.strip().upper() for number in settings.YQ_FACE_SANDBOX_FAIL_IDS}
        if request.id_number.strip().upper() in failing:
            return FaceCheckResult(
                passed=False, message=MISMATCH_MESSAGE, retryable=True, provider_ref=ref
            )
        return FaceCheckResult(
            passed=True, message=PASSED_MESSAGE, retryable=False, provider_ref=ref
        )


class HttpGatewayFaceCheckProvider(FaceCheckProvider):
    """Posts to the operator's verification gateway, signed like the SMS gateway:

    request  {"name", "id_number", "image": base64, "image_type": "image/jpeg" | "image/png"}
    response {"passed": bool, "message": str, "ref": str[, "retryable": bool]}
    """

    sandbox = False
    name = "http_gateway"
    timeout = 15  # comparing a face takes the gateway a few seconds

    def check(self, request: FaceCheckRequest) -> FaceCheckResult:
        url, secret = settings.YQ_FACE_GATEWAY_URL, settings.YQ_FACE_GATEWAY_SECRET
        if not (url and secret):
            raise FaceCheckUnavailable("YQ_FACE_GATEWAY_URL and YQ_FACE_GATEWAY_SECRET must be set")
        payload = {
            "name": request.real_name,
            "id_number": request.id_number,
            "image": base64.b64encode(request.selfie).decode("ascii"),
            "image_type": request.content_type,
        }
        try:
            status, body = signed_json_post(url, secret, payload, self.timeout)
        except GatewayUnreachable as exc:
            raise FaceCheckUnavailable(f"face gateway unreachable: {exc}") from exc
        if not 200 <= status < 300:
            raise FaceCheckUnavailable(f"face gateway answered HTTP {status}")
        try:
            answer = json.loads(body)
            passed, message, ref = answer["passed"], answer.get("message", ""), answer["ref"]
            retryable = answer.get("retryable", not passed)
        except (ValueError, TypeError, KeyError) as exc:
            raise FaceCheckUnavailable(f"face gateway answer unreadable: {exc}") from exc
        if not (
            isinstance(passed, bool)
            and isinstance(message, str)
            and isinstance(ref, str)
            and isinstance(retryable, bool)
        ):
            raise FaceCheckUnavailable("face gateway answer has fields of the wrong type")
        if not message:
            message = PASSED_MESSAGE if passed else MISMATCH_MESSAGE
        return FaceCheckResult(
            passed=passed, message=message, retryable=retryable and not passed, provider_ref=ref
        )


def face_provider() -> FaceCheckProvider:
    return import_string(settings.YQ_FACE_PROVIDER)()

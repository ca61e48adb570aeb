"""Login by phone number and one-time SMS code; 实名认证 (name + ID number + face check)."""

import contextlib
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from yueqiqian import ratelimit

from .faceauth import (
    FaceCheckProvider,
    FaceCheckRequest,
    FaceCheckResult,
    FaceCheckUnavailable,
    face_provider,
)
from .identity import mask_id_number, validate_chinese_name, validate_id_number
from .models import Identity, SmsCode, User
from .tasks import sms_deliver

logger = logging.getLogger(__name__)


class LoginCodeError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class SentCode:
    phone: str
    code: str  # shown on the page only while DEBUG; never stored in clear
    expires_at: timezone.datetime


def _code_hash(*, phone: str, purpose: str, code: str) -> str:
    return hmac.new(
        settings.SECRET_KEY.encode(), f"{purpose}:{phone}:{code}".encode(), hashlib.sha256
    ).hexdigest()


def login_code_send(*, phone: str, ip: str) -> SentCode:
    """Issue a fresh login code for the phone and queue its SMS. Rate limited; raises RateLimited.

    A new code replaces any earlier unused one.
    """
    ratelimit.hit("sms_send_ip_hour", ip)
    ratelimit.hit("sms_send_phone_minute", phone)
    ratelimit.hit("sms_send_phone_day", phone)
    code = f"{secrets.randbelow(10**6):06d}"
    now = timezone.now()
    expires_at = now + timedelta(seconds=settings.YQ_SMS_CODE_TTL_SECONDS)
    purpose = SmsCode.Purpose.LOGIN
    with transaction.atomic():
        SmsCode.objects.filter(
            phone=phone, purpose=purpose, used_at__isnull=True, expires_at__gt=now
        ).update(expires_at=now)
        SmsCode.objects.create(
            phone=phone,
            purpose=purpose,
            code_hash=_code_hash(phone=phone, purpose=purpose, code=code),
            created_at=now,
            expires_at=expires_at,
        )
        minutes = settings.YQ_SMS_CODE_TTL_SECONDS // 60
        sms_deliver.delay_on_commit(
            phone=phone,
            text=f"【粤企签】您的登录验证码是 {code}，{minutes} 分钟内有效。请勿告诉他人。",
        )
    return SentCode(phone=phone, code=code, expires_at=expires_at)


def login_code_check(*, phone: str, code: str, ip: str) -> User:
    """Consume the phone's current login code and return its user (created on first login).

    Raises LoginCodeError with a message for the page, or RateLimited.
    """
    ratelimit.check("sms_check_ip", ip)
    ratelimit.check("sms_check_phone", phone)
    now = timezone.now()
    purpose = SmsCode.Purpose.LOGIN
    with transaction.atomic():
        current = (
            SmsCode.objects.select_for_update()
            .filter(phone=phone, purpose=purpose, used_at__isnull=True, expires_at__gt=now)
            .order_by("-created_at")
            .first()
        )
        if current is None:
            failure = "验证码已失效，请重新获取"
        elif not hmac.compare_digest(
            current.code_hash, _code_hash(phone=phone, purpose=purpose, code=code)
        ):
            current.failed_attempts += 1
            if current.failed_attempts >= settings.YQ_SMS_CODE_MAX_ATTEMPTS:
                current.expires_at = now  # too many guesses: this code is spent
                failure = "验证码错误次数过多，请重新获取"
            else:
                left = settings.YQ_SMS_CODE_MAX_ATTEMPTS - current.failed_attempts
                failure = f"验证码错误，还可以再试 {left} 次"
            current.save(update_fields=["failed_attempts", "expires_at"])
        else:
            # Guarded: of two requests racing with the same code, only one consumes it.
            consumed = SmsCode.objects.filter(pk=current.pk, used_at__isnull=True).update(
                used_at=now
            )
            if consumed:
                user, _ = User.objects.get_or_create(
                    phone=phone, defaults={"password": "!" + secrets.token_urlsafe(20)}
                )
                if not user.is_active:
                    raise LoginCodeError("该账号已停用，请联系客服")
                return user
            failure = "验证码已失效，请重新获取"
    # Count the failure; the next attempt over the limit is refused before it is checked.
    for scope, subject in (("sms_check_ip", ip), ("sms_check_phone", phone)):
        with contextlib.suppress(ratelimit.RateLimited):
            ratelimit.hit(scope, subject)
    raise LoginCodeError(failure)


# ---- 实名认证 ------------------------------------------------------------------------------------

ID_NUMBER_TAKEN_MESSAGE = "该身份证号已被其他账号认证，请联系客服"
ALREADY_VERIFIED_MESSAGE = "您已完成实名认证，无需重复认证"
FACE_CHECK_UNAVAILABLE_MESSAGE = "人脸识别服务暂时不可用，请稍后再试"


class IdentityCheckFailed(Exception):
    """实名认证 did not bind an identity. `message` is for the user; `retryable` says whether
    another attempt (a new photo) can succeed."""

    def __init__(self, message: str, retryable: bool) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable


class IdentityAlreadyVerified(IdentityCheckFailed):
    def __init__(self) -> None:
        super().__init__(ALREADY_VERIFIED_MESSAGE, retryable=False)


class IdentityNumberTaken(IdentityCheckFailed):
    def __init__(self) -> None:
        super().__init__(ID_NUMBER_TAKEN_MESSAGE, retryable=False)


def _id_number_taken(*, id_number: str, user: User) -> bool:
    return Identity.objects.filter(id_number=id_number).exclude(user=user).exists()


def identity_verify(
    *, user: User, real_name: str, id_number: str, selfie: bytes, content_type: str, ip: str
) -> Identity:
    """Check name + ID number, pass the face check and bind the identity to the user, once.

    Raises ValidationError for a name or number that cannot be right, RateLimited past the
    attempt limits (counted before the provider is asked, whatever its answer), and
    IdentityCheckFailed (IdentityAlreadyVerified, IdentityNumberTaken) when nothing was bound.
    The selfie goes to the provider and nowhere else.
    """
    real_name = validate_chinese_name(real_name)
    number = validate_id_number(id_number, today=timezone.localdate()).number
    if Identity.objects.filter(user=user).exists():
        raise IdentityAlreadyVerified
    ratelimit.hit("face_check_user", str(user.pk))
    ratelimit.hit("face_check_ip", ip)
    # After the limits: otherwise this answer would tell anyone, as fast as they can ask,
    # which ID numbers are registered here.
    if _id_number_taken(id_number=number, user=user):
        logger.warning(
            "identity number already verified by another user: user=%s id=%s",
            user.pk,
            mask_id_number(number),
        )
        raise IdentityNumberTaken

    provider = face_provider()
    result = face_check_run(
        provider=provider,
        real_name=real_name,
        id_number=number,
        selfie=selfie,
        content_type=content_type,
        subject=f"user={user.pk}",
    )

    # The identity table has no unique ID number, so two accounts verifying the same number
    # at once could both pass the check above; checking again inside the transaction makes
    # that window as small as it gets without a constraint.
    try:
        with transaction.atomic():
            if _id_number_taken(id_number=number, user=user):
                raise IdentityNumberTaken
            identity = Identity.objects.create(
                user=user,
                real_name=real_name,
                id_number=number,
                verified_at=timezone.now(),
                provider=provider.name,
                provider_ref=result.provider_ref,
            )
    except IntegrityError:
        # The one-to-one: another request of this user's bound an identity first. (A unique
        # ID number, if one is added, lands here too.)
        if Identity.objects.filter(user=user).exists():
            raise IdentityAlreadyVerified from None
        raise IdentityNumberTaken from None
    logger.info(
        "identity verified: user=%s id=%s provider=%s ref=%s",
        user.pk,
        mask_id_number(number),
        provider.name,
        result.provider_ref,
    )
    return identity


def face_check_run(
    *,
    provider: FaceCheckProvider,
    real_name: str,
    id_number: str,
    selfie: bytes,
    content_type: str,
    subject: str,
) -> FaceCheckResult:
    """Ask the face-check provider whether the selfie is the person with this name and
    (validated) ID number, for 实名认证 and for the legal representative's share link.

    Returns the passed result. A failed check raises IdentityCheckFailed with the provider's
    message; an unreachable provider raises it with FACE_CHECK_UNAVAILABLE_MESSAGE (retryable).
    Failures are logged with `subject` (who asked, e.g. "user=12") and the number masked.
    """
    masked = mask_id_number(id_number)
    try:
        result = provider.check(
            FaceCheckRequest(
                real_name=real_name, id_number=id_number, selfie=selfie, content_type=content_type
            )
        )
    except FaceCheckUnavailable:
        logger.warning(
            "face check unavailable: %s id=%s provider=%s",
            subject,
            masked,
            provider.name,
            exc_info=True,
        )
        raise IdentityCheckFailed(FACE_CHECK_UNAVAILABLE_MESSAGE, retryable=True) from None
    if not result.passed:
        logger.warning(
            "face check failed: %s id=%s provider=%s ref=%s retryable=%s message=%s",
            subject,
            masked,
            provider.name,
            result.provider_ref,
            result.retryable,
            result.message,
        )
        raise IdentityCheckFailed(result.message, retryable=result.retryable)
    return result

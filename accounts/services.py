"""Login by phone number and one-time SMS code."""

import contextlib
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from yueqiqian import ratelimit

from .models import SmsCode, User
from .tasks import sms_deliver


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

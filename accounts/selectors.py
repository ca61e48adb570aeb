from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

from .models import Identity, SmsCode, User


def login_code_cooldown(*, phone: str) -> int:
    """Seconds until the phone may ask for another code (0: now), for the button's countdown."""
    _, window = settings.YQ_RATE_LIMITS["sms_send_phone_minute"]
    last = (
        SmsCode.objects.filter(phone=phone, purpose=SmsCode.Purpose.LOGIN)
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    if last is None:
        return 0
    return max(0, window - int((timezone.now() - last).total_seconds()))


def identity_for(user: User | AnonymousUser) -> Identity | None:
    """The user's verified identity (实名认证), or None: not verified yet, or not logged in."""
    if not user.is_authenticated:
        return None
    return Identity.objects.filter(user_id=user.pk).first()

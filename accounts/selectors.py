from django.conf import settings
from django.utils import timezone

from .models import SmsCode


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

from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from .sms import SmsDeliveryError, SmsMessage, sms_provider


@shared_task(
    autoretry_for=(SmsDeliveryError,),
    retry_backoff=2,
    retry_backoff_max=30,
    max_retries=5,
)
def sms_deliver(*, phone: str, text: str) -> None:
    sms_provider().send(SmsMessage(phone=phone, text=text))


@shared_task
def sms_codes_purge() -> int:
    """Delete login codes a day after they expired; they are useless and still personal data."""
    from .models import SmsCode

    deleted, _ = SmsCode.objects.filter(expires_at__lt=timezone.now() - timedelta(days=1)).delete()
    return deleted

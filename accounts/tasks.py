from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from .sms import SmsDeliveryError, SmsMessage, sms_provider

SMS_RETRY = {
    "autoretry_for": (SmsDeliveryError,),
    "retry_backoff": 2,
    "retry_backoff_max": 30,
    "max_retries": 5,
}


@shared_task(**SMS_RETRY)
def sms_deliver(*, phone: str, text: str) -> None:
    """A message someone is waiting for (a login code): the default queue, ahead of bulk work."""
    sms_provider().send(SmsMessage(phone=phone, text=text))


@shared_task(**SMS_RETRY)
def sms_notice_deliver(*, phone: str, text: str) -> None:
    """A notice nobody is waiting for (certificate issued): routed to the `bulk` queue
    (CELERY_TASK_ROUTES), so a burst of them never delays issuance or a login code."""
    sms_provider().send(SmsMessage(phone=phone, text=text))


@shared_task
def sms_codes_purge() -> int:
    """Delete login codes a day after they expired; they are useless and still personal data."""
    from .models import SmsCode

    deleted, _ = SmsCode.objects.filter(expires_at__lt=timezone.now() - timedelta(days=1)).delete()
    return deleted

import logging
import smtplib
from datetime import timedelta

from celery import shared_task
from django.db import OperationalError
from django.utils import timezone

from .services import certificate_issue_for_order

logger = logging.getLogger(__name__)

# How long an order may sit in 签发中 before the sweep queues its issuance again (a lost task,
# a worker killed mid-issuance).
STUCK_AFTER = timedelta(minutes=2)


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
)
def certificate_issue(order_id: int) -> None:
    certificate_issue_for_order(order_id=order_id)


@shared_task
def certificates_issue_stuck() -> int:
    """Beat: queue issuance again for paid orders still 签发中 after STUCK_AFTER."""
    from orders.models import Order
    from orders.states import OrderStatus

    stuck = Order.objects.filter(
        status=OrderStatus.ISSUING, updated_at__lt=timezone.now() - STUCK_AFTER
    ).values_list("pk", flat=True)[:200]
    for order_id in stuck:
        certificate_issue.delay(order_id)
    return len(stuck)


# ---- Expiry (certificates.expiry) --------------------------------------------------------------


@shared_task
def certificates_expire() -> int:
    """Beat (hourly): expire certificates whose date has come, and fit certificates whose seat
    grants ended into the seats left. Returns how many certificates expired."""
    from .expiry import certificates_expire_due, seats_over_capacity_release

    now = timezone.now()
    expired = certificates_expire_due(now=now)
    removed = seats_over_capacity_release(now=now)
    if removed:
        logger.info("%d employee authorization(s) removed for ended seats", removed)
    return expired


@shared_task
def expiry_reminders_send() -> int:
    """Beat (daily): remind administrators before certificates and seat grants expire. Returns
    how many reminders were queued."""
    from .expiry import expiry_reminders_queue

    return expiry_reminders_queue(now=timezone.now())


# A mail server that is down or slow is retried with backoff; the SMS went out regardless.
@shared_task(
    autoretry_for=(smtplib.SMTPException, OSError),
    retry_backoff=30,
    retry_backoff_max=600,
    max_retries=5,
)
def expiry_reminder_email_deliver(*, to: str, subject: str, body: str) -> None:
    from django.core.mail import EmailMessage

    EmailMessage(subject=subject, body=body, to=[to]).send()

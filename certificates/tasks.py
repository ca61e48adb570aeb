from datetime import timedelta

from celery import shared_task
from django.db import OperationalError
from django.utils import timezone

from .services import certificate_issue_for_order

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

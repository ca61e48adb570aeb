"""Unpaid orders are cancelled (已取消) settings.YQ_UNPAID_ORDER_TTL_HOURS after the applicant last
went to pay — or, when they never did, after the order last changed — their WeChat Pay order
closed first. Run by beat through orders.tasks.orders_cancel_unpaid.

Order of the steps, and why:

1. Ask WeChat Pay whether the order was paid after all. The settle sweep stops asking a day
   after the payment request, so a payment whose notification was lost would otherwise be
   found by nobody, and the close below would fail on it forever. A paid order is settled, not
   cancelled.
2. Close the WeChat Pay order, so nothing can be paid for an order we are about to cancel. A
   failure (network, WeChat Pay refusing) leaves the order as it is this round. An order never
   sent to pay has no WeChat Pay order to close (closing an unknown out_trade_no is an error).
3. Cancel under the order's row lock — the lock payment_settle takes — after checking again that
   no payment was recorded and that the applicant did not go to pay meanwhile. Should money
   still arrive for a cancelled order, payment_settle records it and logs it for a refund.
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.db.models.functions import Coalesce

from .models import Order, Payment
from .payments.providers import PaymentProvider, payment_provider
from .payments.services import PAYABLE_STATUS, payment_settle
from .services import order_transition
from .states import OrderStatus

logger = logging.getLogger(__name__)

# One sweep (every ten minutes) handles at most this many orders, each up to two provider calls.
CANCEL_BATCH = 100
ACTOR_LABEL = "系统"
REASON = "超时未支付，订单已取消"


def _cutoff(now: datetime) -> datetime:
    return now - timedelta(hours=settings.YQ_UNPAID_ORDER_TTL_HOURS)


def _awaiting_payment() -> Q:
    awaiting = Q()
    for kind, status in PAYABLE_STATUS.items():
        awaiting |= Q(kind=kind, status=status)
    return awaiting


def orders_unpaid_overdue(*, now: datetime) -> QuerySet[Order]:
    """Orders waiting for their payment (已授权待支付, 待支付) with none recorded, whose last
    payment request — or last change, when payment was never requested — is TTL hours old."""
    return (
        Order.objects.annotate(last_activity=Coalesce("payment_requested_at", "updated_at"))
        .filter(_awaiting_payment(), payment__isnull=True, last_activity__lte=_cutoff(now))
        .select_related("ca__wechatpay")
        .order_by("last_activity", "pk")[:CANCEL_BATCH]
    )


def order_cancel_unpaid(
    *, order: Order, now: datetime, provider: PaymentProvider | None = None
) -> Order | None:
    """Cancel one overdue unpaid order, closing its WeChat Pay order first (see the module
    docstring). Returns the cancelled order, or None when it was left as it is."""
    provider = provider or payment_provider()
    if order.payment_requested_at is not None:
        try:
            paid = provider.query(order=order)
        except Exception as exc:
            logger.warning("unpaid order %s: query failed, not cancelled: %r", order.number, exc)
            return None
        if paid is not None:
            payment_settle(order_number=order.number, transaction=paid, source="query")
            logger.info("unpaid order %s was paid after all; settled, not cancelled", order.number)
            return None
        # The provider call goes over the network: no transaction or row lock is held across it.
        try:
            provider.close(order=order)
        except Exception as exc:
            logger.warning(
                "unpaid order %s: closing its WeChat Pay order failed, not cancelled: %r",
                order.number,
                exc,
            )
            return None
    with transaction.atomic():
        locked = Order.objects.select_for_update(of=("self",)).get(pk=order.pk)
        if (
            locked.status != PAYABLE_STATUS[locked.kind]
            or Payment.objects.filter(order=locked).exists()
            # The applicant went to pay after this order was read: its WeChat Pay order may
            # not be the one just closed (or none was closed at all).
            or (locked.payment_requested_at or locked.updated_at) > _cutoff(now)
        ):
            logger.info("unpaid order %s changed meanwhile; not cancelled", order.number)
            return None
        cancelled = order_transition(
            order=locked, to=OrderStatus.CANCELLED, actor_label=ACTOR_LABEL, reason=REASON
        )
    logger.info("unpaid order %s cancelled", order.number)
    return cancelled

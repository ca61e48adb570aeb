"""Order background work: settling payments whose notification never came, cancelling orders
left unpaid, and the sandbox's delivery of its notifications."""

import base64
import logging
import urllib.error
import urllib.request
from datetime import timedelta
from urllib.parse import urlsplit

from celery import shared_task
from django.conf import settings
from django.db.models import Q
from django.urls import resolve, reverse
from django.utils import timezone

logger = logging.getLogger(__name__)

# One sweep settles at most this many orders; the next run (every minute) takes the rest.
SETTLE_BATCH = 200
# WeChat Pay's H5 orders expire after two hours unless told otherwise: after a day an unpaid
# order is not going to be paid, and querying it every minute forever would only cost calls.
SETTLE_LOOKBACK = timedelta(days=1)
NOTIFY_TIMEOUT_SECONDS = 10


@shared_task
def payments_settle_overdue() -> int:
    """Ask the payment provider about orders the applicant went to pay whose notification has
    not arrived, and record the ones that were paid. Returns how many were settled.

    A failure on one order (network, a mismatch) is logged and the sweep goes on.
    """
    from .models import Order
    from .payments.providers import payment_provider
    from .payments.services import PAYABLE_STATUS, payment_settle

    now = timezone.now()
    awaiting = Q()
    for kind, status in PAYABLE_STATUS.items():
        awaiting |= Q(kind=kind, status=status)
    due = (
        Order.objects.filter(
            awaiting,
            payment_requested_at__lte=now
            - timedelta(seconds=settings.YQ_PAYMENT_SETTLE_AFTER_SECONDS),
            payment_requested_at__gte=now - SETTLE_LOOKBACK,
            payment__isnull=True,
            ca__wechatpay__isnull=False,
        )
        .select_related("ca__wechatpay")
        # Newest first: a backlog of stale orders must not starve the ones just paid.
        .order_by("-payment_requested_at")[:SETTLE_BATCH]
    )
    provider = payment_provider()
    settled = 0
    for order in due:
        try:
            transaction = provider.query(order=order)
            if transaction is None:
                continue
            payment_settle(order_number=order.number, transaction=transaction, source="query")
            settled += 1
        except Exception:
            logger.exception("settling the payment of order %s failed", order.number)
    return settled


@shared_task
def orders_cancel_unpaid() -> int:
    """Beat: cancel orders left unpaid past settings.YQ_UNPAID_ORDER_TTL_HOURS, closing their
    WeChat Pay orders first (orders.expiry). Returns how many were cancelled.

    A failure on one order is logged and the sweep goes on; the order is tried again next run.
    """
    from .expiry import order_cancel_unpaid, orders_unpaid_overdue
    from .payments.providers import payment_provider

    now = timezone.now()
    provider = payment_provider()
    cancelled = 0
    for order in orders_unpaid_overdue(now=now):
        try:
            if order_cancel_unpaid(order=order, now=now, provider=provider) is not None:
                cancelled += 1
        except Exception:
            logger.exception("cancelling unpaid order %s failed", order.number)
    return cancelled


@shared_task(bind=True, max_retries=4)
def sandbox_notification_deliver(self, *, ca_code: str, headers: dict, body_b64: str) -> int:
    """Deliver a sandbox cashier's notification to our notify endpoint; returns its status.

    With a real worker (a broker is configured) this is an HTTP POST to YQ_PUBLIC_BASE_URL, as
    WeChat Pay's own servers would make, retried on failure like theirs. In the embedded
    default, where tasks run in-process inside the cashier's own request, there may be no
    server to post to (tests use Django's test client) — and runserver would have to answer
    itself — so the request is built with RequestFactory and handed to the view that URL
    resolves to. Either way the notify view, with its full signature check and decryption, is
    what accepts or refuses the message.
    """
    body = base64.b64decode(body_b64)
    path = reverse("payments:wechat_notify", args=[ca_code])
    if settings.CELERY_TASK_ALWAYS_EAGER:
        status = _deliver_in_process(path, headers=headers, body=body)
    else:
        status = _deliver_over_http(settings.YQ_PUBLIC_BASE_URL + path, headers, body)
    if 200 <= status < 300:
        return status
    logger.warning("sandbox notification to %s answered HTTP %s", path, status)
    if not settings.CELERY_TASK_ALWAYS_EAGER:
        # WeChat Pay's schedule starts 15 s, 15 s, 30 s…; the signature stays fresh for 5 min.
        raise self.retry(countdown=15 * 2**self.request.retries)
    return status


def _deliver_in_process(path: str, *, headers: dict, body: bytes) -> int:
    from django.test import RequestFactory

    request = RequestFactory().post(
        path, data=body, content_type="application/json", headers=headers
    )
    match = resolve(path)
    response = match.func(request, *match.args, **match.kwargs)
    return response.status_code


def _deliver_over_http(url: str, headers: dict, body: bytes) -> int:
    if urlsplit(url).scheme not in ("http", "https"):
        raise ValueError("YQ_PUBLIC_BASE_URL must be an http(s) URL")
    request = urllib.request.Request(  # noqa: S310 - scheme checked above
        url,
        data=body,
        method="POST",
        headers={**headers, "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=NOTIFY_TIMEOUT_SECONDS) as response:  # noqa: S310
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError as exc:
        logger.warning("sandbox notification to %s not delivered: %s", url, exc)
        return 0

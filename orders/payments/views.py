"""Payment pages: 【支付】, WeChat Pay's notification endpoint, and the sandbox cashier.

The notification endpoint answers WeChat Pay's v3 contract: 200 with an empty body once the
payment is recorded (also for a repeat of a recorded one), and 4xx with
`{"code": "FAIL", "message": …}` for anything that fails a check. Every failure is a 400, also a
permanent one such as an order we do not know: WeChat Pay then retries on its schedule
(15 s … 3 h, about 24 h in all), which is harmless — a forged or mistaken message fails the
same way each time — whereas acknowledging a message we did not accept could hide a real
payment behind a passing bug. Each refusal is logged with its reason, the CA and, when it is
known, the order number; never the body, which holds the payer's data.
"""

import logging

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import IntegrityError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from certificates.keys import KeyDecryptionError
from orders.models import Order, Payment, WechatPayMerchant
from orders.wechatpay import NotificationRejected, WechatPayError
from yueqiqian.http import client_ip

from .providers import SandboxWechatPayProvider, payment_provider
from .services import PAYABLE_STATUS, PaymentNotAllowed, payment_settle, payment_start

logger = logging.getLogger(__name__)

# A v3 notification is about 1 KB; anything near this is not one.
MAX_NOTIFICATION_BYTES = 64 * 1024


def _fail(status: int, message: str) -> JsonResponse:
    return JsonResponse({"code": "FAIL", "message": message}, status=status)


@csrf_exempt
@require_POST
def wechat_notify(request: HttpRequest, ca_code: str) -> HttpResponse:
    merchant = get_object_or_404(WechatPayMerchant.objects.select_related("ca"), ca__code=ca_code)
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > MAX_NOTIFICATION_BYTES or len(request.body) > MAX_NOTIFICATION_BYTES:
        logger.warning("wechatpay notification refused (%s): body too large", ca_code)
        return _fail(413, "body too large")

    out_trade_no = None
    try:
        transaction = payment_provider().parse_notification(
            ca=merchant.ca, headers=dict(request.headers), body=request.body
        )
        out_trade_no = transaction.out_trade_no
        payment_settle(order_number=out_trade_no, transaction=transaction, source="notify")
    except NotificationRejected as exc:
        logger.warning(
            "wechatpay notification refused (%s, order %s): %s: %s",
            ca_code,
            out_trade_no or "unknown",
            type(exc).__name__,
            exc.reason,
        )
        return _fail(400, exc.reason)
    except IntegrityError:
        # A transaction id already recorded on another order: not ours to settle twice.
        logger.error(
            "wechatpay notification refused (%s, order %s): transaction already recorded "
            "for another order",
            ca_code,
            out_trade_no or "unknown",
        )
        return _fail(400, "transaction already recorded")
    except KeyDecryptionError:
        logger.error("wechatpay notification (%s): merchant secrets do not decrypt", ca_code)
        return _fail(500, "merchant configuration error")
    return HttpResponse(status=200)


def _own_order(request: HttpRequest, number: str) -> Order:
    """The requesting applicant's order; anyone else's is a 404, never a 403 that confirms it."""
    return get_object_or_404(
        Order.objects.select_related("ca"), number=number, applicant=request.user
    )


def _detail_url(order: Order) -> str:
    return reverse("orders:detail", args=[order.number])


def _redirect(request: HttpRequest, url: str) -> HttpResponse:
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


@login_required
@require_POST
def pay(request: HttpRequest, number: str) -> HttpResponse:
    """【支付】: open the payment and send the applicant to WeChat Pay (or the sandbox cashier)."""
    order = _own_order(request, number)
    try:
        started = payment_start(order=order, actor=request.user, client_ip=client_ip(request))
    except PaymentNotAllowed as exc:
        messages.error(request, exc.message)
        return _redirect(request, _detail_url(order))
    except WechatPayError as exc:
        logger.error("wechatpay order for %s not created: %s", order.number, exc)
        messages.error(request, "微信支付暂时不可用，请稍后再试")
        return _redirect(request, _detail_url(order))
    return _redirect(request, started.redirect_url)


@login_required
@require_http_methods(["GET", "POST"])
def sandbox_cashier(request: HttpRequest, number: str) -> HttpResponse:
    """The sandbox's stand-in for WeChat Pay's H5 cashier (only with the sandbox provider).

    【确认支付】 makes the CA's sandbox platform sign and encrypt a v3 notification, which goes
    through the notify endpoint's full verification like a real one.
    """
    provider = payment_provider()
    if not isinstance(provider, SandboxWechatPayProvider):
        raise Http404
    order = _own_order(request, number)
    # Like WeChat Pay, the cashier only knows orders that 【支付】 opened.
    if order.payment_requested_at is None:
        raise Http404
    if Payment.objects.filter(order=order).exists():
        messages.info(request, "该订单已支付")
        return redirect(_detail_url(order))
    if order.status != PAYABLE_STATUS[order.kind]:
        messages.error(request, f"订单当前状态为「{order.get_status_display()}」，不能支付")
        return redirect(_detail_url(order))
    if request.method == "POST":
        provider.cashier_pay(order=order)
        return redirect(_detail_url(order))
    return render(
        request,
        "payments/sandbox_cashier.html",
        {"order": order, "cancel_url": _detail_url(order)},
    )

"""续期: from the certificate, the administrator starts (or resumes) its renewal application,
which then goes on as any application does (填写信息 → 阅读协议 → 授权 → 支付 → 签发)."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from accounts.selectors import identity_for
from certificates.models import EnterpriseCertificate
from certificates.renewal import (
    RENEWAL_YEARS,
    RenewalError,
    renewal_open_for,
    renewal_refusal,
    renewal_seats,
    renewal_start,
)
from certificates.selectors import seats_total, seats_used

from .states import OrderStatus


def _order_url(order) -> str:
    if order.status == OrderStatus.DRAFT:
        return reverse("orders:apply", args=[order.number])
    return reverse("orders:detail", args=[order.number])


@login_required
@require_http_methods(["GET", "POST"])
def renew(request: HttpRequest, certificate_id: int) -> HttpResponse:
    """GET: what a renewal is and what it keeps. POST 【下一步】: the prefilled application."""
    certificate = get_object_or_404(
        EnterpriseCertificate.objects.select_related("ca", "order__package"),
        pk=certificate_id,
        holder=request.user,
    )
    here = reverse("orders:renew", args=[certificate.pk])
    if identity_for(request.user) is None:
        return redirect(f"{reverse('accounts:identity')}?next={here}")
    error = renewal_refusal(certificate, actor=request.user)
    existing = renewal_open_for(certificate)
    if request.method == "POST" and error is None:
        try:
            order = renewal_start(certificate=certificate, actor=request.user)
        except RenewalError as exc:
            error = exc.message
        else:
            return redirect(_order_url(order))
    refused = error is not None
    context = {
        "certificate": certificate,
        "error": error,
        "refused": refused,
        "existing": existing,
        "existing_url": _order_url(existing) if existing else "",
        "years": RENEWAL_YEARS,
        "seats_total": None if refused else seats_total(certificate),
        "seats_used": None if refused else seats_used(certificate),
        "renewal_seats": None if refused else renewal_seats(certificate),
        "employees": None
        if refused
        else certificate.employees.filter(removed_at__isnull=True).count(),
        "step": 1,
    }
    return render(
        request, "orders/renew.html", context, status=400 if request.method == "POST" else 200
    )

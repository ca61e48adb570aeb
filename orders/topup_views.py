"""【新增授权数量】: the certificate holder picks seats and years → 【下一步】 → the order page."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from certificates.models import EnterpriseCertificate
from certificates.selectors import seats_total, seats_used

from .pricing import SEAT_PRICE_PER_YEAR_FEN
from .topup import TopupError, TopupForm, topup_order_create, topup_pending_for, topup_refusal


def _held_certificate(request: HttpRequest, certificate_id: int) -> EnterpriseCertificate:
    """The requesting user's own certificate (as its administrator); anyone else's — an
    employee's too — is a 404, never a 403 that confirms it exists."""
    return get_object_or_404(
        EnterpriseCertificate.objects.select_related("ca", "order"),
        pk=certificate_id,
        holder=request.user,
    )


@login_required
@require_http_methods(["GET", "POST"])
def topup_start(request: HttpRequest, certificate_id: int) -> HttpResponse:
    """选择数量: 新增授权数量 and 年限 with the price; 【下一步】 creates the 待支付 order.

    The form posts to itself on every change (htmx) for the price, which the server computes;
    only 【下一步】 (a plain submit, `next` in the data) creates an order. Without JavaScript
    the form still submits, and the order page shows the amount before 【支付】.
    """
    certificate = _held_certificate(request, certificate_id)
    refusal = topup_refusal(certificate)
    # Without htmx every POST is 【下一步】 (Enter in a field submits too).
    submitted = request.method == "POST" and ("next" in request.POST or not request.htmx)
    form = TopupForm(request.POST) if request.method == "POST" else TopupForm()
    if request.method == "POST" and not submitted:
        # The live price: an incomplete choice shows a dash, without scolding mid-way.
        return render(request, "orders/topup.html#price", {"form": form, "quote": form.quote()})
    error = refusal
    if submitted and not refusal and form.is_valid():
        try:
            order = topup_order_create(
                certificate=certificate,
                actor=request.user,
                seats=form.cleaned_data["seats"],
                years=form.cleaned_data["years"],
            )
        except TopupError as exc:
            error = exc.message
        else:
            return redirect("orders:detail", order.number)
    context = {
        "certificate": certificate,
        "form": form,
        "quote": form.quote(),
        "unit_price_fen": SEAT_PRICE_PER_YEAR_FEN,
        "error": error,
        "refused": refusal is not None,
        "seats_total": seats_total(certificate) if refusal is None else None,
        "seats_used": seats_used(certificate) if refusal is None else None,
        "pending": topup_pending_for(certificate=certificate, user=request.user),
        "step": 1,
    }
    status = 400 if submitted else 200
    return render(request, "orders/topup.html", context, status=status)

"""法定代表人刷脸验证授权 pages.

The applicant's share card (logged in), and the legal representative's pages at /a/<token>/
(no login: the token is the credential) — the order → 确认授权 → face check → 授权成功. Every
page that carries a token, in its address or its body, is never cached and never sent on as a
Referer.
"""

import base64
import io
from collections.abc import Callable
from functools import wraps

import qrcode
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods
from django_htmx.http import HttpResponseClientRedirect

from accounts.forms import IdentityForm
from accounts.views import SelfieUploadHandler
from orders.models import Order
from yueqiqian import ratelimit
from yueqiqian.http import client_ip
from yueqiqian.ratelimit import RateLimited

from . import services
from .models import ShareLink
from .services import ShareLinkCheckFailed, ShareLinkError, ShareLinkInvalid

# Forged: there is no such link. The others existed and are gone for good.
INVALID_STATUS = {"forged": 404, "expired": 410, "used": 410, "revoked": 410, "order_moved": 410}

# QR: a fixed mask skips the search over all eight (~6× faster; any mask scans). Ten pixels a
# module keeps a ~70-character URL (version 4–5) sharp on a 3× phone screen at 200–240 CSS px.
QR_MASK_PATTERN = 4
QR_BOX_SIZE = 10


def _token_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Not cached anywhere, no Referer to the next site, not indexed."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = view(request, *args, **kwargs)
        add_never_cache_headers(response)  # no-store, private
        response["Referrer-Policy"] = "no-referrer"
        response["X-Robots-Tag"] = "noindex, nofollow"
        return response

    return wrapped


def mask_name(name: str) -> str:
    """李四 → 李*, 王小明 → 王*明: enough for the legal representative to recognise, little for
    anyone a link was forwarded to."""
    if len(name) <= 2:
        return name[:1] + "*" * (len(name) - 1)
    return name[0] + "*" * (len(name) - 2) + name[-1]


def qr_data_uri(text: str) -> str:
    code = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M,
        box_size=QR_BOX_SIZE,
        border=4,
        mask_pattern=QR_MASK_PATTERN,
    )
    code.add_data(text)
    code.make(fit=True)
    buffer = io.BytesIO()
    code.make_image().save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


# ---- The applicant ------------------------------------------------------------------------------


@login_required
@_token_page
@require_http_methods(["GET", "POST"])
def share_create(request: HttpRequest, number: str) -> HttpResponse:
    """【分享给法定代表人授权】: a new link (the old one stops working) and its share card.

    The card is this POST's response: only the token's hash is stored, so the card cannot be
    shown again later. A reload posts again and makes another link, as the card says.
    """
    order = get_object_or_404(
        Order.objects.select_related("ca", "package"), number=number, applicant=request.user
    )
    detail_url = reverse("orders:detail", args=[order.number])
    if request.method == "GET":
        return redirect(detail_url)
    try:
        link, token = services.share_link_create(order=order, actor=request.user)
    except ShareLinkError as exc:
        messages.error(request, exc.message)
        return redirect(detail_url)
    url = services.share_link_url(token)
    return render(
        request,
        "authorization/share_card.html",
        {
            "order": order,
            "link": link,
            "url": url,
            "qr": qr_data_uri(url),
            "legal_rep_masked": mask_name(order.legal_rep_name),
            "ttl_hours": settings.YQ_SHARE_LINK_TTL_HOURS,
        },
    )


# ---- The legal representative -------------------------------------------------------------------


def _invalid(request: HttpRequest, exc: ShareLinkInvalid) -> HttpResponse:
    return render(
        request,
        "authorization/share_invalid.html",
        {"kind": exc.kind, "title": exc.title, "message": exc.message},
        status=INVALID_STATUS[exc.kind],
    )


def _limited(request: HttpRequest, exc: RateLimited) -> HttpResponse:
    return render(
        request,
        "authorization/share_invalid.html",
        {"kind": "limited", "title": "操作过于频繁", "message": exc.message},
        status=429,
    )


def _order_context(link: ShareLink) -> dict:
    order = link.order
    identity = getattr(order.applicant, "identity", None)
    return {
        "link": link,
        "order": order,
        "applicant_masked": mask_name(identity.real_name) if identity else "",
        "legal_rep_masked": mask_name(order.legal_rep_name),
    }


def _resolve(request: HttpRequest, token: str) -> ShareLink | HttpResponse:
    """The live link, or the page that says why there is none. Opening is limited per IP, so
    tokens cannot be tried at speed."""
    try:
        ratelimit.hit("share_link_open_ip", client_ip(request))
        return services.share_link_resolve(token)
    except RateLimited as exc:
        return _limited(request, exc)
    except ShareLinkInvalid as exc:
        return _invalid(request, exc)


@_token_page
@require_GET
def share_open(request: HttpRequest, token: str) -> HttpResponse:
    """① 确认订单: what the legal representative is asked to authorize."""
    link = _resolve(request, token)
    if isinstance(link, HttpResponse):
        return link
    return render(
        request, "authorization/share_order.html", {**_order_context(link), "token": token}
    )


# CSRF is checked in _share_check, after the selfie upload handler is in place (as on the
# 实名认证 page: the middleware would read the body first).
@csrf_exempt
@_token_page
@require_http_methods(["GET", "POST"])
def share_check(request: HttpRequest, token: str) -> HttpResponse:
    """② 人脸识别: 姓名 + 身份证号 of the legal representative and a selfie."""
    handler = SelfieUploadHandler(request, max_bytes=settings.YQ_SELFIE_MAX_BYTES)
    request.upload_handlers = [handler]
    return _share_check(request, token, handler)


@csrf_protect
def _share_check(request: HttpRequest, token: str, handler: SelfieUploadHandler) -> HttpResponse:
    link = _resolve(request, token)
    if isinstance(link, HttpResponse):
        if request.htmx and request.method == "POST":
            # The link went away while the form was open: show its page in full.
            return HttpResponseClientRedirect(reverse("authorization:share_open", args=[token]))
        return link
    status = 200
    if request.method == "POST":
        form = IdentityForm(request.POST, request.FILES, selfie_too_large=handler.too_large)
        if form.is_valid():
            try:
                services.share_link_authorize(
                    token=token,
                    real_name=form.cleaned_data["real_name"],
                    id_number=form.cleaned_data["id_number"],
                    selfie=form.selfie_bytes,
                    content_type=form.selfie_content_type,
                    ip=client_ip(request),
                )
            except ShareLinkInvalid as exc:
                if request.htmx:
                    return HttpResponseClientRedirect(
                        reverse("authorization:share_open", args=[token])
                    )
                return _invalid(request, exc)
            except RateLimited as exc:
                form.add_error(None, exc.message)
                status = 429
            except ShareLinkCheckFailed as exc:
                form.add_error(exc.field, exc.message)
                status = 400
            except ValidationError as exc:  # the form checks the same; kept as a safety net
                form.add_error(None, exc)
                status = 400
            else:
                done = reverse("authorization:share_done", args=[token])
                return HttpResponseClientRedirect(done) if request.htmx else redirect(done)
        else:
            status = 400
        form.autofocus_first_error()
        if form.non_field_errors() and not any(
            f.widget.attrs.get("autofocus") for f in form.fields.values()
        ):
            # The message sits above the name: bring it into view, not the button just pressed.
            form.fields["real_name"].widget.attrs["autofocus"] = True
    else:
        form = IdentityForm()
    context = {**_order_context(link), "token": token, "form": form}
    if request.htmx:
        # htmx swaps only 2xx answers; the form carries its own errors.
        return render(request, "authorization/share_check.html#check_form", context)
    return render(request, "authorization/share_check.html", context, status=status)


@_token_page
@require_GET
def share_done(request: HttpRequest, token: str) -> HttpResponse:
    """③ 完成. Shown again on reload; the link itself now answers 已使用."""
    try:
        ratelimit.hit("share_link_open_ip", client_ip(request))
        link = services.share_link_lookup(token)
    except RateLimited as exc:
        return _limited(request, exc)
    except ShareLinkInvalid as exc:
        return _invalid(request, exc)
    if link.used_at is None:
        return redirect("authorization:share_open", token)
    return render(request, "authorization/share_done.html", _order_context(link))

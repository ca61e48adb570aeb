"""The applicant's pages: 订单管理, the application (填写信息 → 阅读协议 → 授权), order detail."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from accounts.selectors import identity_for
from authorization.services import share_link_live_for
from certificates.models import SeatGrant
from certificates.selectors import agreement_current, seats_total
from invoices.forms import InvoiceEmailForm
from invoices.models import Invoice
from invoices.services import invoice_email_default
from yueqiqian.http import client_ip

from . import services
from .forms import section_form
from .models import Order
from .selectors import order_list_for_user
from .services import SECTION_FIELDS, SECTION_TITLES, ApplicationError
from .states import OrderKind, OrderStatus

PAGE_SIZE = 20


def _own_order(request: HttpRequest, number: str) -> Order:
    """The requesting applicant's order; anyone else's is a 404, never a 403 that confirms it."""
    return get_object_or_404(
        Order.objects.select_related("ca", "package"), number=number, applicant=request.user
    )


def _redirect(request: HttpRequest, url: str) -> HttpResponse:
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


def _next_step_url(order: Order) -> str:
    """Where an unfinished order continues."""
    if order.status == OrderStatus.DRAFT:
        if services.order_sections_missing(order):
            return reverse("orders:apply", args=[order.number])
        return reverse("orders:agreement", args=[order.number])
    if order.status == OrderStatus.AWAITING_AUTHORIZATION:
        return reverse("orders:authorize", args=[order.number])
    return reverse("orders:detail", args=[order.number])


@login_required
@require_GET
def order_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(order_list_for_user(user=request.user), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    template = "orders/order_list.html#order_rows" if request.htmx else "orders/order_list.html"
    return render(request, template, {"tab": "orders", "page": page})


@login_required
@require_GET
def apply_start(request: HttpRequest) -> HttpResponse:
    """【办理】: an applicant without 实名认证 goes to 【去认证】 first; then the application."""
    if identity_for(request.user) is None:
        return redirect(f"{reverse('accounts:identity')}?next={reverse('orders:apply_start')}")
    order = services.order_draft_for(applicant=request.user)
    return redirect(_next_step_url(order))


def _sections(order: Order, bound: dict | None = None) -> list[dict]:
    missing = set(services.order_sections_missing(order))
    sections = []
    for name in SECTION_FIELDS:
        form = (bound or {}).get(name) or section_form(name, order)
        sections.append(
            {
                "name": name,
                "title": SECTION_TITLES[name],
                "form": form,
                "complete": name not in missing,
            }
        )
    return sections


@login_required
@require_GET
def apply(request: HttpRequest, number: str) -> HttpResponse:
    order = _own_order(request, number)
    if order.status != OrderStatus.DRAFT:
        return redirect(_next_step_url(order))
    return render(
        request,
        "orders/apply.html",
        {
            "order": order,
            "identity": identity_for(request.user),
            "sections": _sections(order),
            "step": 1,
        },
    )


@login_required
@require_POST
def apply_section(request: HttpRequest, number: str, section: str) -> HttpResponse:
    """Save one section as the user goes. Errors come back in the section, with what was typed."""
    if section not in SECTION_FIELDS:
        raise Http404
    order = _own_order(request, number)
    if order.status != OrderStatus.DRAFT:
        return _redirect(request, _next_step_url(order))
    form = section_form(section, order, request.POST)
    saved = False
    error = None
    # 证书信息 is also posted on every change, without 保存 (the package list follows the CA and
    # the price follows the choices): it is saved once complete, and an incomplete choice is
    # re-rendered without scolding the user mid-way.
    refresh_only = section == "certificate" and "_save" not in request.POST
    if form.is_valid():
        try:
            services.order_section_save(order=order, section=section, data=form.cleaned_data)
            saved = True
        except ApplicationError as exc:
            error = exc
    elif refresh_only:
        form.errors.clear()
    context = {
        "order": order,
        "section": {
            "name": section,
            "title": SECTION_TITLES[section],
            "form": form,
            "complete": saved and section not in services.order_sections_missing(order),
            "saved": saved,
            "error": error,
        },
    }
    if request.htmx:
        also = None
        if saved and section == "enterprise" and not order.invoice_title:
            # The invoice starts from the enterprise's own details: refresh its prefill.
            also = {
                "name": "invoice",
                "title": SECTION_TITLES["invoice"],
                "form": section_form("invoice", order),
                "oob": True,
            }
        return render(request, "orders/_section.html", {**context, "oob_price": True, "also": also})
    if saved:
        return redirect(f"{reverse('orders:apply', args=[order.number])}#{section}")
    bound = {section: form}
    return render(
        request,
        "orders/apply.html",
        {
            "order": order,
            "identity": identity_for(request.user),
            "sections": _sections(order, bound),
            "step": 1,
            "section_error": error,
        },
        status=400,
    )


@login_required
@require_http_methods(["GET", "POST"])
def agreement(request: HttpRequest, number: str) -> HttpResponse:
    """(二)2 阅读协议: the chosen CA's current agreement; 【下一步】 only after 同意."""
    order = _own_order(request, number)
    if order.status != OrderStatus.DRAFT:
        return redirect(_next_step_url(order))
    missing = services.order_sections_missing(order)
    if missing:
        messages.error(request, "请先完整填写：" + "、".join(SECTION_TITLES[m] for m in missing))
        return redirect("orders:apply", order.number)
    current = agreement_current(ca=order.ca)
    if current is None:
        raise Http404("该证书机构暂无业务协议")
    error = None
    if request.method == "POST":
        if request.POST.get("agree") != "on":
            error = "请阅读并勾选同意业务协议书"
        elif request.POST.get("version") != str(current.version):
            error = "协议已更新，请阅读最新版本后再同意"
        else:
            try:
                services.agreement_accept(
                    order=order,
                    actor=request.user,
                    agreement=current,
                    ip=client_ip(request),
                    user_agent=request.META.get("HTTP_USER_AGENT", ""),
                )
            except ApplicationError as exc:
                error = exc.message
            except services.TransitionConflict:
                return _redirect(request, reverse("orders:detail", args=[order.number]))
            else:
                return _redirect(request, reverse("orders:authorize", args=[order.number]))
    return render(
        request,
        "orders/agreement.html",
        {"order": order, "agreement": current, "error": error, "step": 2},
        status=400 if error else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def authorize(request: HttpRequest, number: str) -> HttpResponse:
    """(二)3: the legal representative confirms the 业务授权书 himself, or chooses how to get
    the legal representative's authorization."""
    order = _own_order(request, number)
    if order.status != OrderStatus.AWAITING_AUTHORIZATION:
        return redirect(_next_step_url(order))
    identity = identity_for(request.user)
    if services.applicant_is_legal_rep(order=order, identity=identity):
        if request.method == "POST":
            try:
                services.legal_rep_self_confirm(order=order, actor=request.user, identity=identity)
            except (ApplicationError, services.TransitionConflict) as exc:
                messages.error(request, getattr(exc, "message", "订单状态已变化，请刷新"))
            return _redirect(request, reverse("orders:detail", args=[order.number]))
        from authorization.letter import authorization_letter, letter_data_for

        letter = authorization_letter(
            letter_data_for(order, applicant_identity=identity, today=timezone.localdate())
        )
        return render(
            request,
            "orders/authorize_self.html",
            {"order": order, "letter": letter, "step": 3},
        )
    if request.method == "POST":
        raise Http404
    return render(request, "orders/authorize_choose.html", {"order": order, "step": 3})


def _share_context(request: HttpRequest, order: Order) -> dict:
    """法定代表人刷脸验证授权 on the order page: whether 【分享给法定代表人授权】 is offered,
    and the live link the status panel polls for (two queries, only while the order awaits
    authorization)."""
    if order.status != OrderStatus.AWAITING_AUTHORIZATION or not order.in_province:
        return {"can_share": False, "share_link": None}
    if services.applicant_is_legal_rep(order=order, identity=identity_for(request.user)):
        return {"can_share": False, "share_link": None}
    return {"can_share": True, "share_link": share_link_live_for(order=order)}


def _invoice_context(order: Order) -> dict:
    """【下载发票】 on a completed order: the invoice once rendered (发票生成中 until then) and
    the 发送至邮箱 form, offering the order's invoice e-mail first."""
    if order.status != OrderStatus.COMPLETED:
        return {"invoice": None, "invoice_email_form": None}
    return {
        "invoice": Invoice.objects.filter(order=order).first(),
        "invoice_email_form": InvoiceEmailForm(initial={"email": invoice_email_default(order)}),
    }


def _topup_context(order: Order) -> dict:
    """A top-up's certificate, and once paid, its seat grant and the seats now in force."""
    if order.kind != OrderKind.SEAT_TOPUP:
        return {}
    target = order.target_certificate
    grant = (
        SeatGrant.objects.filter(order=order).first()
        if order.status == OrderStatus.COMPLETED
        else None
    )
    in_force = target is not None and target.status == target.Status.VALID
    return {
        # 选择数量 → 订单详情 → 支付: this page is 订单详情 until paid, then all are done.
        "topup_step": {OrderStatus.AWAITING_PAYMENT: 2, OrderStatus.COMPLETED: 4}.get(order.status),
        "target_certificate": target,
        "seat_grant": grant,
        "topup_seats_total": seats_total(target) if grant and in_force else None,
    }


@login_required
@require_GET
def detail(request: HttpRequest, number: str) -> HttpResponse:
    order = _own_order(request, number)
    certificate = (
        getattr(order, "certificate", None)
        if order.status == OrderStatus.COMPLETED and order.kind == OrderKind.NEW_CERTIFICATE
        else None
    )
    context = {
        "order": order,
        "certificate": certificate,
        "seats_total": seats_total(certificate) if certificate else None,
        "continue_url": _next_step_url(order),
        "events": order.events.all(),
        "tab": "orders",
        **_share_context(request, order),
        **_invoice_context(order),
        **_topup_context(order),
    }
    fragment = request.GET.get("fragment") if request.htmx else None
    if fragment == "status":
        # The step indicator outside the panel follows too (out of band).
        return render(request, "orders/detail.html#status_panel", {**context, "fragment": True})
    if fragment == "invoice":
        # 发票生成中 polls this until the invoice is rendered; only a completed order has one.
        if order.status != OrderStatus.COMPLETED:
            return HttpResponse(status=204)
        return render(request, "orders/detail.html#invoice_panel", context)
    return render(request, "orders/detail.html", context)


@login_required
@require_POST
def cancel(request: HttpRequest, number: str) -> HttpResponse:
    order = _own_order(request, number)
    try:
        services.order_cancel(order=order, actor=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "订单已取消")
    return _redirect(request, reverse("orders:detail", args=[order.number]))
